import { BaseError } from "@ncn/protocol";
import { defineCommand } from "citty";
import { formatUnits, parseUnits } from "viem";
import { createApiKey } from "../keys/create-api-key.ts";
import { keyWallet } from "../keys/key-wallet.ts";
import { listApiKeys } from "../keys/list-api-keys.ts";
import { revokeApiKey } from "../keys/revoke-api-key.ts";
import { fail, output } from "../output.ts";

/** Where the wallet and chain come from; the wallet's key only from the environment (`NCN_PRIVATE_KEY`). */
export const walletArgs = {
  gateway: { type: "string", description: "Gateway URL (default: the devnet's)" },
  "rpc-url": { type: "string", description: "Chain RPC URL (default: NCN_RPC_URL or the devnet's)" },
  "payment-contract": {
    type: "string",
    description: "InferencePayment address (default: NCN_PAYMENT_CONTRACT or the devnet's)",
  },
  token: { type: "string", description: "NCN token address (default: NCN_TOKEN or the devnet's)" },
  json: { type: "boolean", description: "Print JSON" },
} as const;

export function walletOf(args: {
  gateway?: string | undefined;
  "rpc-url"?: string | undefined;
  "payment-contract"?: string | undefined;
  token?: string | undefined;
}) {
  return keyWallet({
    gatewayUrl: args.gateway,
    rpcUrl: args["rpc-url"] ?? process.env.NCN_RPC_URL,
    paymentContract: args["payment-contract"] ?? process.env.NCN_PAYMENT_CONTRACT,
    tokenContract: args.token ?? process.env.NCN_TOKEN,
    privateKey: process.env.NCN_PRIVATE_KEY,
  });
}

/** "10", "0.5" NCN to base units (18 decimals). */
export function parseNcn(text: string, flag: string): bigint {
  if (!/^\d+(\.\d{1,18})?$/.test(text)) {
    throw new BaseError("INVALID_INPUT", `${flag} must be an amount of NCN such as 10 or 0.5`);
  }
  return parseUnits(text, 18);
}

/** "3600", "90m", "12h", "30d" to seconds. */
export function parseDuration(text: string, flag: string): bigint {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  if (!m?.[1])
    throw new BaseError("INVALID_INPUT", `${flag} must be a duration such as 3600, 90m, 12h or 30d`);
  const unit = { "": 1n, s: 1n, m: 60n, h: 3_600n, d: 86_400n }[m[2] ?? ""] ?? 1n;
  const seconds = BigInt(m[1]) * unit;
  if (seconds <= 0n) throw new BaseError("INVALID_INPUT", `${flag} must be longer than 0`);
  return seconds;
}

const create = defineCommand({
  meta: {
    name: "create",
    description:
      "Create an API key (Authorization: Bearer ncn-…): a fresh signer named on chain for a new session funded with --deposit, or for --session",
  },
  args: {
    deposit: { type: "string", description: "Deposit of a new session, in NCN (e.g. 10)" },
    expiry: {
      type: "string",
      description: "How long a new session lasts: 3600, 90m, 12h, 30d (default 30d)",
    },
    session: {
      type: "string",
      description: "Put the key on this session of the wallet instead (replaces its key)",
    },
    ...walletArgs,
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const wallet = await walletOf(args);
      const created = await createApiKey(wallet, {
        deposit: args.deposit === undefined ? undefined : parseNcn(args.deposit, "--deposit"),
        expiresInSeconds: args.expiry === undefined ? undefined : parseDuration(args.expiry, "--expiry"),
        sessionId: args.session,
      });
      output(json, created, () =>
        [
          `API key (shown once; it spends this session's deposit on validated work and nothing else):`,
          "",
          `  ${created.apiKey}`,
          "",
          `base URL:  ${created.baseUrl}`,
          `session:   ${created.sessionId}`,
          `deposit:   ${formatUnits(created.deposit, 18)} NCN, until ${new Date(Number(created.expiry) * 1000).toISOString()}`,
          `revoke:    ncn key revoke ${created.sessionId}`,
        ].join("\n"),
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

const revoke = defineCommand({
  meta: { name: "revoke", description: "Revoke the API key of a session (give the key or the session id)" },
  args: {
    key: { type: "positional", description: "The API key (ncn-…) or its session id", required: true },
    ...walletArgs,
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const revoked = await revokeApiKey(await walletOf(args), args.key);
      output(
        json,
        revoked,
        () =>
          `revoked the key of session ${revoked.sessionId}: it settles nothing from now on, and the gateway refuses it within 10 s`,
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

const list = defineCommand({
  meta: {
    name: "list",
    description: "List the wallet's sessions with the gateway and the key signer each names",
  },
  args: { ...walletArgs },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const sessions = await listApiKeys(await walletOf(args));
      output(json, { sessions }, () =>
        sessions.length === 0
          ? "no sessions with this gateway"
          : sessions
              .map(
                (s) =>
                  `${s.sessionId}  ${s.signer ? `key ${s.signer}` : "no key"}  ${formatUnits(s.settled, 18)}/${formatUnits(s.deposit, 18)} NCN spent${s.closed ? "  closed" : `  until ${new Date(Number(s.expiry) * 1000).toISOString()}`}`,
              )
              .join("\n"),
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

export const keyCommand = defineCommand({
  meta: {
    name: "key",
    description: "API keys: create, revoke and list the keys that pay from your sessions",
  },
  subCommands: { create, revoke, list },
});

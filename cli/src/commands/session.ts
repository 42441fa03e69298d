import {
  closeSession,
  openSession,
  readSession,
  readSessionSigner,
  topUpSession,
} from "@ncn/contracts/actions";
import { BaseError, Bytes32, errorFromBody } from "@ncn/protocol";
import { defineCommand } from "citty";
import * as v from "valibot";
import { formatUnits } from "viem";
import { getBlock } from "viem/actions";
import type { KeyWallet } from "../keys/key-wallet.ts";
import { fail, output } from "../output.ts";
import { parseDuration, parseNcn, walletArgs, walletOf } from "./key.ts";

const ncn = (x: bigint) => `${formatUnits(x, 18)} NCN`;

function sessionIdOf(raw: string): `0x${string}` {
  const parsed = v.safeParse(Bytes32, raw);
  if (!parsed.success) throw new BaseError("INVALID_INPUT", "the session id must be 0x + 64 hex digits");
  return parsed.output;
}

/** What the gateway knows of a session (registering is idempotent: it answers the standing). */
const Standing = v.object({
  charged: v.string(),
  released: v.optional(v.string()),
  unacknowledged: v.optional(v.string()),
});

async function standing(wallet: KeyWallet, sessionId: string) {
  const res = await fetch(`${wallet.gatewayUrl}/v1/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sessionId }),
  });
  const body: unknown = await res.json().catch(() => undefined);
  if (!res.ok) {
    const err = errorFromBody(body, res.status);
    throw new BaseError("UNAVAILABLE", `the gateway did not register the session: ${err.shortMessage}`, {
      details: body,
    });
  }
  return v.parse(Standing, body);
}

/** A session on chain; `NOT_FOUND` when none has this id. */
async function existingSession(wallet: KeyWallet, sessionId: `0x${string}`) {
  const s = await readSession(wallet.client, wallet.contracts, sessionId);
  if (/^0x0{40}$/i.test(s.client))
    throw new BaseError("NOT_FOUND", "no such session on chain", { details: { sessionId } });
  return s;
}

/** A session of this wallet on chain; refused otherwise. */
async function ownSession(wallet: KeyWallet, sessionId: `0x${string}`) {
  const s = await existingSession(wallet, sessionId);
  if (s.client.toLowerCase() !== wallet.client.account.address.toLowerCase())
    throw new BaseError("FORBIDDEN", "this wallet did not open that session", { details: { sessionId } });
  return s;
}

const open = defineCommand({
  meta: { name: "open", description: "Open a session for the gateway with a deposit, and register it there" },
  args: {
    deposit: { type: "string", required: true, description: "Deposit in NCN (e.g. 10)" },
    expiry: { type: "string", description: "How long it lasts: 3600, 90m, 12h, 30d (default 30d)" },
    ...walletArgs,
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const deposit = parseNcn(args.deposit, "--deposit");
      if (deposit === 0n) throw new BaseError("INVALID_INPUT", "--deposit must be more than 0");
      const seconds = args.expiry === undefined ? 30n * 86_400n : parseDuration(args.expiry, "--expiry");
      const wallet = await walletOf(args);
      const block = await getBlock(wallet.client);
      const expiry = block.timestamp + seconds;
      const { sessionId, receipt } = await openSession(wallet.client, wallet.contracts, {
        gateway: wallet.gateway,
        amount: deposit,
        expiry,
      });
      await standing(wallet, sessionId);
      output(
        json,
        {
          sessionId,
          client: wallet.client.account.address,
          deposit,
          expiry,
          transaction: receipt.transactionHash,
        },
        () =>
          `session ${sessionId} opened with ${ncn(deposit)} until ${new Date(Number(expiry) * 1000).toISOString()}, registered at ${wallet.gatewayUrl}`,
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

const fund = defineCommand({
  meta: { name: "fund", description: "Add NCN to a session of this wallet and/or extend it" },
  args: {
    sessionId: { type: "positional", required: true, description: "Session id" },
    amount: { type: "string", description: "NCN to add (default 0)" },
    extend: { type: "string", description: "Move the expiry later by 3600, 90m, 12h, 30d" },
    ...walletArgs,
  },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const sessionId = sessionIdOf(args.sessionId);
      const amount = args.amount === undefined ? 0n : parseNcn(args.amount, "--amount");
      const extend = args.extend === undefined ? 0n : parseDuration(args.extend, "--extend");
      if (amount === 0n && extend === 0n)
        throw new BaseError("INVALID_INPUT", "give --amount, --extend or both");
      const wallet = await walletOf(args);
      const before = await ownSession(wallet, sessionId);
      if (before.closed) throw new BaseError("CONFLICT", "the session is closed", { details: { sessionId } });
      await topUpSession(wallet.client, wallet.contracts, {
        sessionId,
        amount,
        ...(extend > 0n ? { expiry: before.expiry + extend } : {}),
      });
      const after = await readSession(wallet.client, wallet.contracts, sessionId);
      output(
        json,
        { sessionId, deposit: after.deposit, expiry: after.expiry },
        () =>
          `session ${sessionId}: deposit ${ncn(after.deposit)}, until ${new Date(Number(after.expiry) * 1000).toISOString()}`,
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

const show = defineCommand({
  meta: {
    name: "show",
    description: "A session on chain and at the gateway: deposit, settled, charged, left",
  },
  args: { sessionId: { type: "positional", required: true, description: "Session id" }, ...walletArgs },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const sessionId = sessionIdOf(args.sessionId);
      const wallet = await walletOf(args);
      const s = await existingSession(wallet, sessionId);
      const signer = await readSessionSigner(wallet.client, wallet.contracts, sessionId);
      const g = s.closed ? undefined : await standing(wallet, sessionId);
      const charged = g ? BigInt(g.charged) : s.settled;
      const view = {
        sessionId,
        client: s.client,
        gateway: s.gateway,
        deposit: s.deposit,
        settled: s.settled,
        charged,
        left: s.deposit - charged,
        released: g?.released ?? "0",
        expiry: s.expiry,
        closed: s.closed,
        apiKeySigner: signer ?? null,
      };
      output(json, view, () =>
        [
          `session ${sessionId}${s.closed ? " (closed)" : ""}`,
          `  deposit   ${ncn(s.deposit)}`,
          `  charged   ${ncn(charged)} by the gateway, ${ncn(s.settled)} of it settled on chain`,
          `  left      ${ncn(s.deposit - charged)}`,
          `  expires   ${new Date(Number(s.expiry) * 1000).toISOString()}`,
          `  API key   ${signer ? `signer ${signer}` : "none"}`,
        ].join("\n"),
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

const close = defineCommand({
  meta: {
    name: "close",
    description:
      "Close an expired session of this wallet (after the settlement grace) and get the unspent deposit back",
  },
  args: { sessionId: { type: "positional", required: true, description: "Session id" }, ...walletArgs },
  async run({ args }) {
    const json = Boolean(args.json);
    try {
      const sessionId = sessionIdOf(args.sessionId);
      const wallet = await walletOf(args);
      const s = await ownSession(wallet, sessionId);
      if (s.closed)
        throw new BaseError("CONFLICT", "the session is already closed", { details: { sessionId } });
      const now = (await getBlock(wallet.client)).timestamp;
      if (now < s.expiry) {
        throw new BaseError(
          "CONFLICT",
          `the session runs until ${new Date(Number(s.expiry) * 1000).toISOString()}; it can be closed after that and the settlement grace (the gateway settles what was charged meanwhile)`,
          { details: { sessionId, expiry: s.expiry.toString(), now: now.toString() } },
        );
      }
      const { refund, receipt } = await closeSession(wallet.client, wallet.contracts, sessionId);
      output(
        json,
        { sessionId, refund, transaction: receipt.transactionHash },
        () => `session ${sessionId} closed: ${ncn(refund)} back to ${wallet.client.account.address}`,
      );
    } catch (e) {
      fail(e, json);
    }
  },
});

export const sessionCommand = defineCommand({
  meta: {
    name: "session",
    description:
      "Sessions of your own key (NCN_PRIVATE_KEY, else the devnet's client): open, fund, show, close",
  },
  subCommands: { open, fund, show, close },
});

import { defineCommand } from "citty";
import * as v from "valibot";
import { type AgentConfig, isLoopbackHost, loadConfig } from "../config/config.ts";
import { AgentError, ConfigError } from "../errors.ts";
import { loadIdentity } from "../identity/identity.ts";
import {
  type ChainPlace,
  type Earnings,
  formatNcn,
  parseAddress,
  readEarnings,
  readServedTally,
  withdrawEarnings,
} from "../wallet/earnings.ts";
import { runCli } from "./errors.ts";
import { SETTING_ARGS, settingsFromArgs } from "./settings-args.ts";

const GatewayChain = v.object({
  chainId: v.pipe(v.number(), v.integer(), v.minValue(1)),
  paymentContract: v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{40}$/)),
});

/**
 * Where the agent is paid: the RPC URL it is given, and the chain and payment contract it
 * pins (`--chain-id`, `--payment-contract`) or, for a gateway on this machine, the ones that
 * gateway names (`GET /v1/gateway`). A remote gateway is never asked: it could name any contract.
 */
export async function chainPlace(config: AgentConfig): Promise<ChainPlace> {
  const problems: string[] = [];
  if (!config.rpcUrl) problems.push("--rpc-url (NCN_RPC_URL) is required: the chain's JSON-RPC URL");
  let pinned = config.pinnedDomain;
  if (!pinned && config.gateway && isLoopbackHost(new URL(config.gateway).hostname)) {
    const url = new URL("/v1/gateway", config.gateway.replace(/^ws/, "http"));
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(5_000) });
      const got = v.parse(GatewayChain, await res.json());
      pinned = {
        chainId: got.chainId,
        verifyingContract: got.paymentContract.toLowerCase() as `0x${string}`,
      };
    } catch (e) {
      throw new AgentError(
        "UNAVAILABLE",
        `cannot ask the gateway at ${url.origin} for its chain: ${(e as Error).message}`,
      );
    }
  }
  if (!pinned)
    problems.push(
      "--chain-id (NCN_CHAIN_ID) and --payment-contract (NCN_PAYMENT_CONTRACT) are required (or --gateway naming a gateway on this machine)",
    );
  if (problems.length > 0 || !config.rpcUrl || !pinned) throw new ConfigError(problems);
  return { rpcUrl: config.rpcUrl, chainId: pinned.chainId, paymentContract: pinned.verifyingContract };
}

const share = (bps: number) => `${(bps / 100).toFixed(bps % 100 === 0 ? 0 : 2)}%`;

export function formatEarnings(e: Earnings): string {
  const ncn = (x: bigint) => `${formatNcn(x)} NCN`;
  const since = e.served.since > 0 ? ` since ${new Date(e.served.since).toISOString().slice(0, 19)}Z` : "";
  const lines = [
    `agent ${e.address} (chain ${e.chainId}, payment contract ${e.paymentContract})`,
    `  served        ${e.served.tasks} tasks on this machine${since}, receipts worth ${ncn(e.served.charged)}`,
    `  share         ${share(e.agentBps)} of each receipt's price is credited to the agent once its batch settles`,
    `  paid          ${ncn(e.paid)} credited on chain, ${ncn(e.withdrawn)} of it withdrawn`,
    `  pending       ${ncn(e.pending)} served but not credited yet (estimated: settlement runs in batches)`,
    `  withdrawable  ${ncn(e.credit)}${e.credit > 1n ? "   ncn-agent withdraw [--to ADDRESS] moves it" : ""}`,
    `  gas           ${formatNcn(e.gas)} ETH${
      e.gas === 0n
        ? `   withdrawing costs gas: send this address a little ether (on a devnet: ncn fund ${e.address})`
        : ""
    }`,
  ];
  return `${lines.join("\n")}\n`;
}

function earningsJson(e: Earnings) {
  return {
    address: e.address,
    chainId: e.chainId,
    paymentContract: e.paymentContract,
    served: { tasks: e.served.tasks, charged: e.served.charged.toString(), since: e.served.since || null },
    agentBps: e.agentBps,
    paid: e.paid.toString(),
    withdrawn: e.withdrawn.toString(),
    pending: e.pending.toString(),
    withdrawable: e.credit.toString(),
    gas: e.gas.toString(),
  };
}

export const earningsCommand = defineCommand({
  meta: {
    name: "earnings",
    description: "What this agent served and was paid: credit on chain, withdrawn, pending, gas money",
  },
  args: {
    ...SETTING_ARGS,
    json: { type: "boolean", description: "print the figures as JSON (amounts in base units)" },
  },
  run: ({ args }) =>
    runCli(async () => {
      const config = loadConfig(settingsFromArgs(args), process.env);
      const place = await chainPlace(config);
      const id = loadIdentity(config.dataDir, config.privateKey, undefined, config.privateKeyFile);
      const e = await readEarnings(place, id.account.address, readServedTally(config.dataDir));
      process.stdout.write(args.json ? `${JSON.stringify(earningsJson(e), null, 2)}\n` : formatEarnings(e));
      return 0;
    }),
});

export const withdrawCommand = defineCommand({
  meta: {
    name: "withdraw",
    description:
      "Withdraw the agent's credit (NCN) to its own address or --to ADDRESS; needs a little ether for gas",
  },
  args: {
    ...SETTING_ARGS,
    to: { type: "string", description: "address to send the NCN to (default: the agent's own)" },
    json: { type: "boolean", description: "print the result as JSON" },
  },
  run: ({ args }) =>
    runCli(async () => {
      const config = loadConfig(settingsFromArgs(args), process.env);
      const to = typeof args.to === "string" ? parseAddress(args.to, "--to") : undefined;
      const place = await chainPlace(config);
      const id = loadIdentity(config.dataDir, config.privateKey, undefined, config.privateKeyFile);
      const r = await withdrawEarnings(place, id.account, to);
      process.stdout.write(
        args.json
          ? `${JSON.stringify({ amount: r.amount.toString(), to: r.to, transaction: r.hash })}\n`
          : `withdrew ${formatNcn(r.amount)} NCN to ${r.to} (transaction ${r.hash})\n`,
      );
      return 0;
    }),
});

import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { inferencePaymentAbi } from "@ncn/contracts/abi";
import { createNcnClient, createNcnReadClient, creditOf, withdrawCredits } from "@ncn/contracts/actions";
import * as v from "valibot";
import type { PrivateKeyAccount } from "viem";
import { formatEther, getAbiItem, getAddress } from "viem";
import { getBalance, getChainId, getLogs, readContract } from "viem/actions";
import { AgentError } from "../errors.ts";

/** Where the agent's earnings live on chain, and how to reach it. */
export interface ChainPlace {
  rpcUrl: string;
  chainId: number;
  paymentContract: `0x${string}`;
}

/** What the agent served on this machine: tasks whose signed results went out, and what their receipts charge. */
export interface ServedTally {
  tasks: number;
  /** Sum of the receipts' prices, NCN base units. */
  charged: bigint;
  /** Unix ms of the first task counted. */
  since: number;
}

const TallyFile = v.object({
  tasks: v.pipe(v.number(), v.integer(), v.minValue(0)),
  charged: v.pipe(v.string(), v.regex(/^\d+$/)),
  since: v.pipe(v.number(), v.integer(), v.minValue(0)),
});

const tallyPath = (dataDir: string) => join(dataDir, "served.json");

/** The tally kept in the data folder (zero when there is none, or it is unreadable). */
export function readServedTally(dataDir: string): ServedTally {
  const path = tallyPath(dataDir);
  if (!existsSync(path)) return { tasks: 0, charged: 0n, since: 0 };
  try {
    const t = v.parse(TallyFile, JSON.parse(readFileSync(path, "utf8")));
    return { tasks: t.tasks, charged: BigInt(t.charged), since: t.since };
  } catch {
    return { tasks: 0, charged: 0n, since: 0 };
  }
}

/** Adds what was served since the last save to the tally in the data folder (written whole, then renamed). */
export function addServedTally(
  dataDir: string,
  add: { tasks: number; charged: bigint; since: number },
): void {
  if (add.tasks === 0) return;
  const before = readServedTally(dataDir);
  const next = {
    tasks: before.tasks + add.tasks,
    charged: (before.charged + add.charged).toString(),
    since: before.since === 0 ? add.since : before.since,
  };
  const path = tallyPath(dataDir);
  writeFileSync(`${path}.tmp`, JSON.stringify(next), { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export interface Earnings {
  address: `0x${string}`;
  chainId: number;
  paymentContract: `0x${string}`;
  /** Withdrawable NCN credited on chain (base units). */
  credit: bigint;
  /** NCN credited to the agent so far, withdrawn or not (from the contract's Credited events). */
  paid: bigint;
  /** NCN withdrawn so far. */
  withdrawn: bigint;
  /** The share of a receipt's price the contract credits the agent, in basis points. */
  agentBps: number;
  served: ServedTally;
  /** Served, at the agent's share, not credited yet: receipts whose settlement has not landed (an estimate). */
  pending: bigint;
  /** Ether the address holds for gas (wei). */
  gas: bigint;
}

/**
 * The agent's earnings: its credit, what was credited and withdrawn (the contract's events),
 * the fee split in force, what it served (the data folder's tally) and its gas money.
 */
export async function readEarnings(
  place: ChainPlace,
  address: `0x${string}`,
  served: ServedTally,
): Promise<Earnings> {
  const client = await connect(place);
  const payment = { payment: place.paymentContract };
  const [credit, gas, config, credited, withdrawals] = await Promise.all([
    creditOf(client, payment, address),
    getBalance(client, { address }),
    readContract(client, {
      address: place.paymentContract,
      abi: inferencePaymentAbi,
      functionName: "config",
    }),
    getLogs(client, {
      address: place.paymentContract,
      event: creditedEvent,
      args: { account: address },
      fromBlock: "earliest",
    }),
    getLogs(client, {
      address: place.paymentContract,
      event: withdrawnEvent,
      args: { account: address },
      fromBlock: "earliest",
    }),
  ]).catch((e: unknown) => {
    throw chainError(place, e);
  });
  const paid = credited.reduce((sum, log) => sum + (log.args.amount ?? 0n), 0n);
  const withdrawn = withdrawals.reduce((sum, log) => sum + (log.args.amount ?? 0n), 0n);
  const agentBps = 10_000 - config.gatewayBps - config.validatorBps - config.protocolBps;
  const earned = (served.charged * BigInt(agentBps)) / 10_000n;
  return {
    address,
    chainId: place.chainId,
    paymentContract: place.paymentContract,
    credit,
    paid,
    withdrawn,
    agentBps,
    served,
    pending: earned > paid ? earned - paid : 0n,
    gas,
  };
}

/** Withdraws the agent's credit to itself or `to`; refuses with the numbers when there is nothing to move or no gas. */
export async function withdrawEarnings(
  place: ChainPlace,
  account: PrivateKeyAccount,
  to: `0x${string}` | undefined,
): Promise<{ amount: bigint; to: `0x${string}`; hash: `0x${string}` }> {
  const reader = await connect(place);
  const payment = { payment: place.paymentContract };
  const [credit, gas] = await Promise.all([
    creditOf(reader, payment, account.address),
    getBalance(reader, { address: account.address }),
  ]).catch((e: unknown) => {
    throw chainError(place, e);
  });
  // The contract leaves 1 base unit credited, so the next payout stays cheap.
  if (credit <= 1n) {
    throw new AgentError("INSUFFICIENT_FUNDS", "nothing to withdraw: the agent has no credit yet", {
      details: { address: account.address, credit: credit.toString() },
    });
  }
  if (gas === 0n) {
    throw new AgentError(
      "INSUFFICIENT_FUNDS",
      `the agent's address ${account.address} holds no ether to pay the withdrawal's gas: send it a little (on a devnet: ncn fund ${account.address})`,
      { details: { address: account.address, credit: credit.toString() } },
    );
  }
  const writer = createNcnClient({ rpcUrl: place.rpcUrl, chainId: place.chainId, account });
  try {
    const { amount, receipt } = await withdrawCredits(writer, payment, to === undefined ? {} : { to });
    return { amount, to: to ?? account.address, hash: receipt.transactionHash };
  } catch (e) {
    throw new AgentError("CHAIN_ERROR", `the withdrawal failed: ${(e as Error).message.split("\n")[0]}`, {
      cause: e,
    });
  }
}

/** NCN base units as a decimal string (18 decimals, like ether). */
export function formatNcn(amount: bigint): string {
  return formatEther(amount);
}

/** Checks an address given on the command line. */
export function parseAddress(s: string, flag: string): `0x${string}` {
  try {
    return getAddress(s.trim());
  } catch {
    throw new AgentError(
      "INVALID_INPUT",
      `${flag} must be a 0x-prefixed 20-byte address, got ${JSON.stringify(s)}`,
    );
  }
}

async function connect(place: ChainPlace) {
  const client = createNcnReadClient({ rpcUrl: place.rpcUrl, chainId: place.chainId });
  const chainId = await getChainId(client).catch((e: unknown) => {
    throw chainError(place, e);
  });
  if (chainId !== place.chainId) {
    throw new AgentError(
      "INVALID_INPUT",
      `the RPC at ${place.rpcUrl} serves chain ${chainId}, not ${place.chainId} where the agent's receipts are paid`,
    );
  }
  return client;
}

function chainError(place: ChainPlace, e: unknown): AgentError {
  return new AgentError(
    "CHAIN_ERROR",
    `cannot read the chain at ${place.rpcUrl}: ${(e as Error).message.split("\n")[0]}`,
    {
      cause: e,
    },
  );
}

const creditedEvent = getAbiItem({ abi: inferencePaymentAbi, name: "Credited" });
const withdrawnEvent = getAbiItem({ abi: inferencePaymentAbi, name: "Withdrawn" });

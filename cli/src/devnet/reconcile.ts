import { createNcnReadClient, readSession } from "@ncn/contracts/actions";
import * as v from "valibot";
import type { Devnet } from "./devnet.ts";

// What a client received against what the gateway charged and the chain settled, per
// session: the check that nothing was lost, nothing charged twice and nothing charged for
// work that was not delivered. Used by the churn test and the chaos run.

const SessionView = v.object({
  charged: v.string(),
  released: v.string(),
  unacknowledged: v.string(),
  settled: v.string(),
});

const SettlementView = v.object({
  settlement: v.object({
    pending: v.object({ count: v.number() }),
    inFlight: v.array(v.unknown()),
    released: v.object({ count: v.number(), recent: v.array(v.object({ reason: v.string() })) }),
    abandonedBatches: v.number(),
    problems: v.array(v.object({ code: v.string(), message: v.string() })),
  }),
});
export type Settlement = v.InferOutput<typeof SettlementView>["settlement"];

/** One session seen from the three sides. */
export interface SessionStanding {
  sessionId: `0x${string}`;
  /** Prices of the results the client received (validated). */
  delivered: bigint;
  /** What the gateway counts as charged. */
  charged: bigint;
  /** Charges the gateway gave up collecting (their receipts could not be settled). */
  released: bigint;
  /** Of `released`, charges the client never acknowledged: results it did not receive. */
  unacknowledged: bigint;
  /** What the chain settled. */
  settled: bigint;
}

/**
 * Settled on chain is exactly what the gateway charged, and that plus what it released for
 * delivered results (all it released but what the client never acknowledged) is exactly what
 * was delivered: no charge lost, none settled twice, none for undelivered work.
 */
export function balanced(s: SessionStanding): boolean {
  return s.settled === s.charged && s.delivered === accountedFor(s);
}

/**
 * What the gateway accounts for as delivered: charged, plus released for results the client
 * got (everything released but what it never acknowledged).
 */
export function accountedFor(s: SessionStanding): bigint {
  return s.charged + s.released - s.unacknowledged;
}

/** The gateway's settlement progress (`/v1/network`). */
export async function readSettlement(gatewayUrl: string): Promise<Settlement> {
  return v.parse(SettlementView, await (await fetch(`${gatewayUrl}/v1/network`)).json()).settlement;
}

/** A session's charged and released totals at the gateway and its settled amount on chain. */
export async function readStanding(
  devnet: Devnet,
  sessionId: `0x${string}`,
  delivered: bigint,
): Promise<SessionStanding> {
  const res = await fetch(`${devnet.file.gateway.url}/v1/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sessionId }),
  });
  const g = v.parse(SessionView, await res.json());
  const read = createNcnReadClient({ rpcUrl: devnet.file.chain.rpcUrl, chainId: devnet.file.chain.chainId });
  const onChain = (await readSession(read, devnet.chain.contracts, sessionId)).settled;
  return {
    sessionId,
    delivered,
    charged: BigInt(g.charged),
    released: BigInt(g.released),
    unacknowledged: BigInt(g.unacknowledged),
    settled: onChain,
  };
}

export interface SettlementOutcome {
  sessions: SessionStanding[];
  settlement: Settlement;
  /** How long it took until every session balanced and nothing was pending (or the timeout). */
  settleMs: number;
  /** Every session balanced and no batch pending or in flight. */
  done: boolean;
}

/**
 * Waits (up to `timeoutMs`) until every session balances and the gateway has nothing pending
 * or in flight; returns the last view either way, for the caller to assert on or print.
 */
export async function waitForSettlement(
  devnet: Devnet,
  delivered: ReadonlyMap<`0x${string}`, bigint>,
  timeoutMs = 60_000,
): Promise<SettlementOutcome> {
  const t0 = Date.now();
  for (;;) {
    const sessions: SessionStanding[] = [];
    for (const [sessionId, amount] of delivered) sessions.push(await readStanding(devnet, sessionId, amount));
    const settlement = await readSettlement(devnet.file.gateway.url);
    const done =
      sessions.every(balanced) && settlement.pending.count === 0 && settlement.inFlight.length === 0;
    if (done || Date.now() - t0 > timeoutMs) return { sessions, settlement, settleMs: Date.now() - t0, done };
    await new Promise((r) => setTimeout(r, 1_000));
  }
}

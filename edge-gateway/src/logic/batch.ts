import { BaseError } from "@ncn/protocol";

/** A validated, charged session request waiting for settlement. */
export interface PendingCharge {
  requestId: string;
  sessionId: `0x${string}`;
  agent: `0x${string}`;
  price: string;
  receiptDigest: `0x${string}`;
  addedAt: number;
}

export interface SessionSettlement {
  sessionId: `0x${string}`;
  /** The client's newest voucher: the most this session may be settled to. */
  voucherAmount: string;
  voucherSignature: `0x${string}`;
  /** The session's new settled total: what was settled before plus this batch's charges. */
  settleTo: string;
}

export interface BatchPlan {
  sessions: SessionSettlement[];
  payouts: { node: `0x${string}`; amount: string }[];
  total: string;
}

/**
 * Plans one settlement: per session, the new settled total (never above the client's
 * voucher), and per node the sum of its validated requests. The two sums are equal by
 * construction; a session whose voucher does not cover its charges is an error (the
 * gateway checked every voucher before dispatch, so this means state was lost).
 */
export function planBatch(
  charges: readonly PendingCharge[],
  sessions: ReadonlyMap<string, { settled: bigint; voucher: { amount: bigint; signature: `0x${string}` } }>,
): BatchPlan {
  const perSession = new Map<string, bigint>();
  const perNode = new Map<string, bigint>();
  let total = 0n;
  for (const c of charges) {
    const p = BigInt(c.price);
    perSession.set(c.sessionId, (perSession.get(c.sessionId) ?? 0n) + p);
    perNode.set(c.agent.toLowerCase(), (perNode.get(c.agent.toLowerCase()) ?? 0n) + p);
    total += p;
  }
  const out: SessionSettlement[] = [];
  for (const [sessionId, charged] of [...perSession.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const s = sessions.get(sessionId);
    if (!s) throw new BaseError("INTERNAL", `no session state for ${sessionId}`);
    const settleTo = s.settled + charged;
    if (settleTo > s.voucher.amount) {
      throw new BaseError("INTERNAL", `session ${sessionId} charges exceed its newest voucher`, {
        details: { settleTo: settleTo.toString(), voucher: s.voucher.amount.toString() },
      });
    }
    out.push({
      sessionId: sessionId as `0x${string}`,
      voucherAmount: s.voucher.amount.toString(),
      voucherSignature: s.voucher.signature,
      settleTo: settleTo.toString(),
    });
  }
  const payouts = [...perNode.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([node, amount]) => ({ node: node as `0x${string}`, amount: amount.toString() }));
  return { sessions: out, payouts, total: total.toString() };
}

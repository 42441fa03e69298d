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
  /** The voucher used: its amount is the session's new settled total. */
  voucherAmount: string;
  voucherSignature: `0x${string}`;
}

export interface BatchPlan {
  sessions: SessionSettlement[];
  payouts: { node: `0x${string}`; amount: string }[];
  total: string;
  /** Charges this batch settles; the rest wait for a voucher that matches them. */
  included: PendingCharge[];
}

export interface SessionVouchers {
  /** Settled on chain so far. */
  settled: bigint;
  vouchers: readonly { amount: bigint; signature: `0x${string}` }[];
}

/**
 * Plans one settlement. A session can only be settled to an amount the client signed a
 * voucher for, and only by charges that were validated: for each session the plan takes
 * the longest run of its charges (oldest first) whose total, added to what is settled,
 * equals one of its vouchers. Charges of failed requests were never added, so they are
 * never paid; charges no voucher matches yet wait for a later batch. Node payouts are
 * the sums of the included charges, so they balance the session increases exactly.
 */
export function planBatch(
  charges: readonly PendingCharge[],
  sessions: ReadonlyMap<string, SessionVouchers>,
): BatchPlan {
  const bySession = new Map<string, PendingCharge[]>();
  for (const c of charges) {
    const list = bySession.get(c.sessionId) ?? [];
    list.push(c);
    bySession.set(c.sessionId, list);
  }
  const out: SessionSettlement[] = [];
  const included: PendingCharge[] = [];
  for (const [sessionId, list] of [...bySession.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const s = sessions.get(sessionId);
    if (!s) continue;
    const byAmount = new Map(s.vouchers.map((v) => [v.amount, v.signature]));
    list.sort((a, b) => a.addedAt - b.addedAt);
    let sum = s.settled;
    let best = -1;
    list.forEach((c, i) => {
      sum += BigInt(c.price);
      if (byAmount.has(sum)) best = i;
    });
    if (best < 0) continue;
    const take = list.slice(0, best + 1);
    const amount = take.reduce((t, c) => t + BigInt(c.price), s.settled);
    out.push({
      sessionId: sessionId as `0x${string}`,
      voucherAmount: amount.toString(),
      voucherSignature: byAmount.get(amount) as `0x${string}`,
    });
    included.push(...take);
  }
  const perNode = new Map<string, bigint>();
  let total = 0n;
  for (const c of included) {
    const p = BigInt(c.price);
    perNode.set(c.agent.toLowerCase(), (perNode.get(c.agent.toLowerCase()) ?? 0n) + p);
    total += p;
  }
  const payouts = [...perNode.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([node, amount]) => ({ node: node as `0x${string}`, amount: amount.toString() }));
  return { sessions: out, payouts, total: total.toString(), included };
}

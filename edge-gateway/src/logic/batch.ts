/** A validated, charged session request waiting for settlement. */
export interface PendingCharge {
  requestId: string;
  /** Order the charges were made in: a session's vouchers count cumulatively in this order. */
  seq: number;
  sessionId: `0x${string}`;
  agent: `0x${string}`;
  price: string;
  receiptDigest: `0x${string}`;
  addedAt: number;
  /** Validators (by URL) known to have attested the receipt; null when not recorded (any may have). */
  attesters: readonly string[] | null;
  /** Validators that refused to settle the receipt (they never attested it). */
  refusedBy: readonly string[];
  /**
   * Batches holding this charge that validators refused without naming a receipt: each one
   * halves the batches it may go in, so a bad charge ends up alone and named.
   */
  strikes: number;
}

export interface SessionSettlement {
  sessionId: `0x${string}`;
  /** The voucher used: its amount is the session's new settled total. */
  voucherAmount: string;
  voucherSignature: `0x${string}`;
}

export interface SessionVouchers {
  /** Settled on chain so far. */
  settled: bigint;
  vouchers: readonly { amount: bigint; signature: `0x${string}` }[];
}

/** One batch to persist and send: the charges it settles, per-session vouchers and per-node payouts. */
export interface BatchDraft {
  /** The validators expected to sign: every one of them attested every receipt of the batch. */
  quorum: string[];
  charges: PendingCharge[];
  sessions: SessionSettlement[];
  payouts: { node: `0x${string}`; amount: string }[];
  total: string;
}

export interface PlanOptions {
  /** Validators (URLs) believed to answer now, in a stable order. */
  available: readonly string[];
  threshold: number;
  /** Most receipts in one batch (the settlement request's limit). */
  maxReceipts: number;
  /** Most batches planned at once. */
  maxBatches: number;
}

/**
 * Plans settlement batches so that each can be signed: a batch goes to a quorum of
 * validators (`threshold` of those available) that all attested all of its receipts,
 * because a validator signs only for receipts it attested itself.
 *
 * Per session the plan takes, in charge order, the charges that quorum can sign (skipping
 * the others, which wait for another quorum or for release) and keeps the longest run
 * whose total, added to what is settled, equals an amount the client signed a voucher for:
 * a voucher authorises a cumulative amount, so it pays for any delivered, validated
 * charges that add up to it, and never for more. Each session picks the quorum that
 * settles most of its charges; sessions with the same quorum share batches, oldest first.
 * A session appears in at most one batch, since validators count its increase from what
 * is settled on chain.
 */
export function planBatches(
  charges: readonly PendingCharge[],
  sessions: ReadonlyMap<string, SessionVouchers>,
  opts: PlanOptions,
): BatchDraft[] {
  const quorums = combinations([...opts.available], opts.threshold);
  if (quorums.length === 0 || opts.maxBatches <= 0) return [];
  const bySession = new Map<string, PendingCharge[]>();
  for (const c of charges) {
    const list = bySession.get(c.sessionId) ?? [];
    list.push(c);
    bySession.set(c.sessionId, list);
  }
  interface Choice {
    sessionId: `0x${string}`;
    quorum: string[];
    take: PendingCharge[];
    /** Most receipts a batch holding this session may have (strikes halve it). */
    cap: number;
    vouchers: Map<bigint, `0x${string}`>;
    settled: bigint;
    eligible: PendingCharge[];
  }
  const choices: Choice[] = [];
  for (const [sessionId, list] of bySession) {
    const s = sessions.get(sessionId);
    if (!s) continue;
    list.sort((a, b) => a.seq - b.seq);
    const vouchers = new Map(s.vouchers.map((x) => [x.amount, x.signature]));
    let best: Choice | undefined;
    for (const quorum of quorums) {
      const eligible = list.filter((c) => canSign(c, quorum));
      const strikes = eligible.reduce((m, c) => Math.max(m, c.strikes), 0);
      const cap = Math.max(1, opts.maxReceipts >> Math.min(strikes, 30));
      const take = voucherRun(eligible, s.settled, vouchers, cap);
      if (take.length > (best?.take.length ?? 0)) {
        best = {
          sessionId: sessionId as `0x${string}`,
          quorum,
          take,
          cap,
          vouchers,
          settled: s.settled,
          eligible,
        };
      }
    }
    if (best) choices.push(best);
  }
  // Oldest waiting charge first, so that no session or group starves behind busier ones.
  choices.sort((a, b) => firstSeq(a.take) - firstSeq(b.take));
  const drafts: { quorum: string[]; members: Choice[]; cap: number; size: number }[] = [];
  for (const choice of choices) {
    const key = choice.quorum.join(" ");
    let open = drafts.find(
      (d) => d.quorum.join(" ") === key && d.size < Math.min(d.cap, choice.cap) && d.members.length > 0,
    );
    if (open) {
      const room = Math.min(open.cap, choice.cap) - open.size;
      const fitted = voucherRun(choice.eligible, choice.settled, choice.vouchers, room);
      if (fitted.length === 0) open = undefined;
      else {
        open.members.push({ ...choice, take: fitted });
        open.size += fitted.length;
        open.cap = Math.min(open.cap, choice.cap);
        continue;
      }
    }
    if (drafts.length >= opts.maxBatches) continue;
    drafts.push({ quorum: choice.quorum, members: [choice], cap: choice.cap, size: choice.take.length });
  }
  return drafts.map((d) => draftOf(d.quorum, d.members));
}

function draftOf(
  quorum: string[],
  members: readonly {
    sessionId: `0x${string}`;
    take: PendingCharge[];
    settled: bigint;
    vouchers: Map<bigint, `0x${string}`>;
  }[],
): BatchDraft {
  const sessions: SessionSettlement[] = [];
  const included: PendingCharge[] = [];
  for (const m of [...members].sort((a, b) => (a.sessionId < b.sessionId ? -1 : 1))) {
    const amount = m.take.reduce((t, c) => t + BigInt(c.price), m.settled);
    sessions.push({
      sessionId: m.sessionId,
      voucherAmount: amount.toString(),
      voucherSignature: m.vouchers.get(amount) as `0x${string}`,
    });
    included.push(...m.take);
  }
  const { payouts, total } = payoutsOf(included);
  return { quorum, charges: included, sessions, payouts, total };
}

/** Per-node sums of the charges (they balance the session increases exactly), sorted by node. */
export function payoutsOf(charges: readonly PendingCharge[]): {
  payouts: { node: `0x${string}`; amount: string }[];
  total: string;
} {
  const perNode = new Map<string, bigint>();
  let total = 0n;
  for (const c of charges) {
    const p = BigInt(c.price);
    const node = c.agent.toLowerCase();
    perNode.set(node, (perNode.get(node) ?? 0n) + p);
    total += p;
  }
  const payouts = [...perNode.entries()]
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([node, amount]) => ({ node: node as `0x${string}`, amount: amount.toString() }));
  return { payouts, total: total.toString() };
}

/**
 * The longest run of `list` (at most `limit` charges) whose total, added to `settled`,
 * is the amount of a voucher the client signed.
 */
export function voucherRun(
  list: readonly PendingCharge[],
  settled: bigint,
  vouchers: ReadonlyMap<bigint, unknown>,
  limit: number,
): PendingCharge[] {
  let sum = settled;
  let best = 0;
  for (let i = 0; i < list.length && i < limit; i++) {
    sum += BigInt((list[i] as PendingCharge).price);
    if (vouchers.has(sum)) best = i + 1;
  }
  return list.slice(0, best);
}

/**
 * How long a charge waits for a quorum of the validators known to have attested it before
 * any validator may be asked. What the gateway knows of who attested can be short: late
 * attesters are learned after the results went out, and a gateway that died in between
 * replays its charges knowing only the first quorum of each validated batch. Batches that
 * rotated between pairs then leave no single quorum known to cover a run the client's
 * vouchers add up to, although every validator attested every receipt.
 */
export const ASK_ANY_VALIDATOR_AFTER_MS = 20_000;

/**
 * The charges to plan with, where those waiting `afterMs` or more count their attesters as
 * unknown (any validator that did not refuse them may be asked). Safe: a validator signs
 * only for receipts it attested itself; one that did not refuses, names the receipt, and is
 * not asked for it again (`refusedBy`).
 */
export function withStaleAttestersUnknown(
  charges: readonly PendingCharge[],
  now: number,
  afterMs: number = ASK_ANY_VALIDATOR_AFTER_MS,
): PendingCharge[] {
  return charges.map((c) =>
    c.attesters !== null && now - c.addedAt >= afterMs ? { ...c, attesters: null } : c,
  );
}

/** Whether some quorum of the `available` validators can sign for this charge's receipt now. */
export function signableNow(c: PendingCharge, available: readonly string[], threshold: number): boolean {
  return combinations([...available], threshold).some((q) => canSign(c, q));
}

/** Whether every validator of `quorum` can sign for this charge's receipt. */
export function canSign(c: PendingCharge, quorum: readonly string[]): boolean {
  return quorum.every((v) => (c.attesters === null || c.attesters.includes(v)) && !c.refusedBy.includes(v));
}

function firstSeq(list: readonly PendingCharge[]): number {
  return list[0]?.seq ?? Number.MAX_SAFE_INTEGER;
}

/** Every `k`-subset of `items`, in order (a handful: validator sets are small). */
export function combinations<T>(items: readonly T[], k: number): T[][] {
  if (k <= 0 || k > items.length) return [];
  const out: T[][] = [];
  const pick = (start: number, acc: T[]) => {
    if (acc.length === k) {
      out.push([...acc]);
      return;
    }
    for (let i = start; i <= items.length - (k - acc.length); i++) {
      acc.push(items[i] as T);
      pick(i + 1, acc);
      acc.pop();
    }
  };
  pick(0, []);
  return out;
}

/** Why charges were not planned: their attesters do not answer, or no voucher adds up to them. */
export function describeWaiting(
  waiting: readonly PendingCharge[],
  available: readonly string[],
  threshold: number,
): string {
  const onValidators = waiting.filter((c) => !signableNow(c, available, threshold));
  const attesters = new Set(
    onValidators.flatMap((c) => (c.attesters ?? []).filter((v) => !available.includes(v))),
  );
  const parts: string[] = [];
  if (onValidators.length > 0)
    parts.push(
      `${onValidators.length} charges wait for validators that attested them to answer${
        attesters.size > 0 ? ` (${[...attesters].join(", ")})` : ""
      }`,
    );
  const onVouchers = waiting.filter((c) => !onValidators.includes(c));
  if (onVouchers.length > 0)
    parts.push(`${onVouchers.length} charges wait for a client voucher that adds up to them`);
  // A voucher may span them all while no quorum attested all of them: name who can sign each.
  const bySession = new Map<string, PendingCharge[]>();
  for (const c of onVouchers) {
    const list = bySession.get(c.sessionId) ?? [];
    list.push(c);
    bySession.set(c.sessionId, list);
  }
  for (const [sessionId, list] of bySession) {
    if (combinations([...available], threshold).some((q) => list.every((c) => canSign(c, q)))) continue;
    const who = list
      .slice(0, 4)
      .map(
        (c) =>
          `${c.requestId.slice(0, 12)}: attested by ${c.attesters?.join(" ") ?? "any"}${
            c.refusedBy.length > 0 ? `, refused by ${c.refusedBy.join(" ")}` : ""
          }`,
      );
    parts.push(
      `session ${sessionId.slice(0, 10)}…: no ${threshold} validators can sign all ${list.length} of its waiting charges (${who.join("; ")})`,
    );
  }
  return parts.join("; ");
}

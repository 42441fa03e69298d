import { describe, expect, test } from "bun:test";
import {
  ASK_ANY_VALIDATOR_AFTER_MS,
  combinations,
  describeWaiting,
  type PendingCharge,
  planBatches,
  type SessionVouchers,
  signableNow,
  withStaleAttestersUnknown,
} from "./batch.ts";

const s1 = `0x${"01".repeat(32)}` as const;
const s2 = `0x${"02".repeat(32)}` as const;
const s3 = `0x${"03".repeat(32)}` as const;
const [A, B, C] = ["http://a", "http://b", "http://c"] as const;
const sig = (n: number) => `0x${n.toString(16).padStart(2, "0")}` as `0x${string}`;

function charge(sessionId: `0x${string}`, seq: number, over: Partial<PendingCharge> = {}): PendingCharge {
  return {
    requestId: `r${seq}`,
    seq,
    sessionId,
    agent: "0xaa",
    price: "10",
    receiptDigest: `0x${seq.toString(16).padStart(64, "0")}`,
    addedAt: seq,
    attesters: [A, B, C],
    refusedBy: [],
    strikes: 0,
    ...over,
  };
}

/** Vouchers at every multiple of `step` up to `upTo` (what a client paying one price signs). */
function steps(settled: bigint, step: bigint, upTo: bigint): SessionVouchers {
  const vouchers = [];
  for (let a = settled + step; a <= upTo; a += step)
    vouchers.push({ amount: a, signature: sig(Number(a % 250n)) });
  return { settled, vouchers };
}

const opts = { available: [A, B, C], threshold: 2, maxReceipts: 1000, maxBatches: 8 };

describe("planBatches: vouchers", () => {
  test("each session settles to a voucher its charges reach exactly; payouts balance the increases", () => {
    const drafts = planBatches(
      [
        charge(s1, 1, { price: "5" }),
        charge(s1, 2, { price: "7", agent: "0xbb" }),
        charge(s2, 3, { price: "3" }),
      ],
      new Map([
        [
          s1,
          {
            settled: 10n,
            vouchers: [
              { amount: 15n, signature: sig(1) },
              { amount: 22n, signature: sig(2) },
              { amount: 40n, signature: sig(3) },
            ],
          },
        ],
        [s2, { settled: 0n, vouchers: [{ amount: 3n, signature: sig(4) }] }],
      ]),
      opts,
    );
    expect(drafts).toHaveLength(1);
    const d = drafts[0] as (typeof drafts)[number];
    expect(d.total).toBe("15");
    expect(d.sessions.map((s) => [s.sessionId, s.voucherAmount, s.voucherSignature])).toEqual([
      [s1, "22", sig(2)],
      [s2, "3", sig(4)],
    ]);
    expect(d.payouts).toEqual([
      { node: "0xaa", amount: "8" },
      { node: "0xbb", amount: "7" },
    ]);
  });

  test("a failed request's voucher never charges more than was validated; no voucher, nothing planned", () => {
    // r1 (price 10) failed and was never charged; r2's voucher (20) covered r1 + r2.
    const vouchers = {
      settled: 0n,
      vouchers: [
        { amount: 10n, signature: sig(1) },
        { amount: 20n, signature: sig(2) },
      ],
    };
    const [d] = planBatches([charge(s1, 2)], new Map([[s1, vouchers]]), opts);
    expect(d?.sessions[0]?.voucherAmount).toBe("10");
    expect(d?.total).toBe("10");
    const none = planBatches(
      [charge(s1, 2)],
      new Map([[s1, { settled: 0n, vouchers: [{ amount: 20n, signature: sig(2) }] }]]),
      opts,
    );
    expect(none).toEqual([]);
  });

  test("a session in no map (busy in another batch, or unknown) is left alone", () => {
    expect(planBatches([charge(s1, 1)], new Map(), opts)).toEqual([]);
  });
});

describe("planBatches: who attested", () => {
  test("two groups attested by different pairs settle as two batches, each sent to its own pair", () => {
    // The outage pattern of the paid run: validator C down, then B down.
    const first = [1, 2, 3].map((i) => charge(s1, i, { attesters: [A, B] }));
    const second = [4, 5, 6].map((i) => charge(s2, i, { attesters: [A, C] }));
    const drafts = planBatches(
      [...first, ...second],
      new Map([
        [s1, steps(0n, 10n, 100n)],
        [s2, steps(0n, 10n, 100n)],
      ]),
      opts,
    );
    expect(drafts.map((d) => [d.quorum, d.charges.map((c) => c.requestId)])).toEqual([
      [
        [A, B],
        ["r1", "r2", "r3"],
      ],
      [
        [A, C],
        ["r4", "r5", "r6"],
      ],
    ]);
  });

  test("within one session, charges another quorum must sign are skipped, not blocking the rest", () => {
    const list = [
      charge(s1, 1, { attesters: [A, B] }),
      charge(s1, 2, { attesters: [A, C] }),
      charge(s1, 3, { attesters: [A, B] }),
      charge(s1, 4, { attesters: [A, B] }),
    ];
    const [d] = planBatches(list, new Map([[s1, steps(0n, 10n, 100n)]]), opts);
    expect(d?.quorum).toEqual([A, B]);
    expect(d?.charges.map((c) => c.requestId)).toEqual(["r1", "r3", "r4"]);
    // Three charges of 10: the client signed 30 (it signed every multiple), so it pays for these three.
    expect(d?.sessions[0]?.voucherAmount).toBe("30");
  });

  test("a validator that is down is not counted on; refusals rule a validator out for that receipt", () => {
    const list = [charge(s1, 1), charge(s1, 2, { refusedBy: [B] }), charge(s1, 3)];
    const vouchers = new Map([[s1, steps(0n, 10n, 100n)]]);
    const [d] = planBatches(list, vouchers, { ...opts, available: [A, B] });
    expect(d?.quorum).toEqual([A, B]);
    expect(d?.charges.map((c) => c.requestId)).toEqual(["r1", "r3"]);
    expect(planBatches(list, vouchers, { ...opts, available: [A] })).toEqual([]);
  });

  test("charges with unrecorded attesters are planned with any quorum", () => {
    const [d] = planBatches([charge(s1, 1, { attesters: null })], new Map([[s1, steps(0n, 10n, 10n)]]), {
      ...opts,
      available: [B, C],
    });
    expect(d?.quorum).toEqual([B, C]);
  });

  test("attesters lost in a crash: rotating pairs leave no known quorum until the charges wait long enough", () => {
    // A gateway killed before it was told of the late attesters replays each validated batch
    // with the pair that answered first; the client signed one voucher, for all four.
    const list = [
      charge(s1, 1, { attesters: [A, B], addedAt: 1_000 }),
      charge(s1, 2, { attesters: [B, C], addedAt: 1_000 }),
      charge(s1, 3, { attesters: [C, A], addedAt: 1_000 }),
      charge(s1, 4, { attesters: [A, B], addedAt: 1_000, refusedBy: [C] }),
    ];
    const vouchers = new Map([[s1, { settled: 0n, vouchers: [{ amount: 40n, signature: sig(9) }] }]]);
    const soon = withStaleAttestersUnknown(list, 1_000 + ASK_ANY_VALIDATOR_AFTER_MS - 1);
    expect(planBatches(soon, vouchers, opts)).toEqual([]);
    const later = withStaleAttestersUnknown(list, 1_000 + ASK_ANY_VALIDATOR_AFTER_MS);
    expect(later.map((c) => c.attesters)).toEqual([null, null, null, null]);
    const [d] = planBatches(later, vouchers, opts);
    // A validator that refused a receipt is still not asked for it.
    expect(d?.quorum).toEqual([A, B]);
    expect(d?.charges.map((c) => c.requestId)).toEqual(["r1", "r2", "r3", "r4"]);
    expect(d?.sessions[0]?.voucherAmount).toBe("40");
  });

  test("a refused batch's charges go in smaller batches: each strike halves the size", () => {
    const list = Array.from({ length: 8 }, (_, i) => charge(s1, i + 1, { strikes: 2 }));
    const [d] = planBatches(list, new Map([[s1, steps(0n, 10n, 100n)]]), { ...opts, maxReceipts: 8 });
    expect(d?.charges).toHaveLength(2);
  });
});

describe("planBatches: sizes and fairness", () => {
  test("batches hold at most maxReceipts, sessions cut where a voucher lands, and never split over two batches", () => {
    const list = [
      ...Array.from({ length: 3 }, (_, i) => charge(s1, i + 1)),
      ...Array.from({ length: 3 }, (_, i) => charge(s2, i + 10)),
      ...Array.from({ length: 3 }, (_, i) => charge(s3, i + 20)),
    ];
    const vouchers = new Map([
      [s1, steps(0n, 10n, 30n)],
      [s2, steps(0n, 10n, 30n)],
      [s3, steps(0n, 10n, 30n)],
    ]);
    const drafts = planBatches(list, vouchers, { ...opts, maxReceipts: 4, maxBatches: 8 });
    const seen = drafts.flatMap((d) => d.sessions.map((s) => s.sessionId));
    expect(new Set(seen).size).toBe(seen.length);
    for (const d of drafts) expect(d.charges.length).toBeLessThanOrEqual(4);
    // Oldest first: s1 whole, then one of s2 fits, s3 opens the next batch.
    expect(drafts.map((d) => d.charges.map((c) => c.requestId))).toEqual([
      ["r1", "r2", "r3", "r10"],
      ["r20", "r21", "r22"],
    ]);
    const limited = planBatches(list, vouchers, { ...opts, maxReceipts: 4, maxBatches: 1 });
    expect(limited).toHaveLength(1);
  });

  test("no quorum available, nothing planned", () => {
    expect(
      planBatches([charge(s1, 1)], new Map([[s1, steps(0n, 10n, 10n)]]), { ...opts, available: [A] }),
    ).toEqual([]);
  });

  test("signableNow: some quorum of the validators answering now attested it and did not refuse it", () => {
    expect(signableNow(charge(s1, 1, { attesters: [A, B] }), [A, B], 2)).toBe(true);
    expect(signableNow(charge(s1, 1, { attesters: [A, B] }), [A, C], 2)).toBe(false);
    expect(signableNow(charge(s1, 1, { refusedBy: [B] }), [A, B], 2)).toBe(false);
  });

  test("combinations", () => {
    expect(combinations([1, 2, 3], 2)).toEqual([
      [1, 2],
      [1, 3],
      [2, 3],
    ]);
    expect(combinations([1, 2], 3)).toEqual([]);
  });
});

describe("why charges wait", () => {
  test("charges a voucher spans but no single quorum attested are named with who can sign each", () => {
    const waiting = [
      charge(s1, 1, { attesters: [B, C], refusedBy: [A] }),
      charge(s1, 2, { attesters: [A, B], refusedBy: [C] }),
    ];
    // Each alone has a quorum, so neither waits on validators; together none signs both.
    const text = describeWaiting(waiting, [A, B, C], 2);
    expect(text).toContain("2 charges wait for a client voucher");
    expect(text).toContain("no 2 validators can sign all 2 of its waiting charges");
    expect(text).toContain("r1: attested by http://b http://c, refused by http://a");
  });

  test("charges one quorum can sign together wait only for a voucher; unanswering attesters are named", () => {
    expect(describeWaiting([charge(s1, 1), charge(s1, 2, { attesters: [A, B] })], [A, B, C], 2)).toBe(
      "2 charges wait for a client voucher that adds up to them",
    );
    expect(describeWaiting([charge(s2, 3, { attesters: [A, C] })], [A, B], 2)).toBe(
      "1 charges wait for validators that attested them to answer (http://c)",
    );
  });
});

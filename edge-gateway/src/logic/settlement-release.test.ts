import { describe, expect, test } from "bun:test";
import type { PendingCharge } from "./batch.ts";
import { chargesToRelease, type ReleaseInput, uncovered } from "./settlement-release.ts";

const s1 = `0x${"01".repeat(32)}` as const;
const s2 = `0x${"02".repeat(32)}` as const;
const [A, B, C] = ["http://a", "http://b", "http://c"] as const;
const MIN = 60_000;

function charge(sessionId: `0x${string}`, seq: number, over: Partial<PendingCharge> = {}): PendingCharge {
  return {
    requestId: `r${seq}`,
    seq,
    sessionId,
    agent: "0xaa",
    price: "10",
    receiptDigest: `0x${seq.toString(16).padStart(64, "0")}`,
    addedAt: 0,
    attesters: [A, B, C],
    refusedBy: [],
    strikes: 0,
    ...over,
  };
}

function amounts(...xs: number[]): Set<bigint> {
  return new Set(xs.map(BigInt));
}

function input(over: Partial<ReleaseInput>): ReleaseInput {
  return {
    charges: [],
    validators: [A, B, C],
    threshold: 2,
    downSince: new Map(),
    now: 10 * MIN,
    releaseAfterMs: 5 * MIN,
    sessions: new Map([[s1, { settled: 0n, amounts: amounts(10, 20, 30, 40), closed: false }]]),
    lastReleaseAt: new Map(),
    ...over,
  };
}

describe("chargesToRelease", () => {
  test("an attester down for less than the bound holds its charges; past it, they are released", () => {
    const charges = [charge(s1, 1, { attesters: [A, B] }), charge(s1, 2)];
    const shortOutage = input({ charges, downSince: new Map([[B, 6 * MIN]]) });
    expect(chargesToRelease(shortOutage)).toEqual([]);
    const longOutage = input({ charges, downSince: new Map([[B, 4 * MIN]]) });
    const released = chargesToRelease(longOutage);
    // r2 was attested by all three: A and C still sign for it.
    expect(released.map((r) => [r.charge.requestId, r.reason])).toEqual([["r1", "quorum_lost"]]);
    expect(released[0]?.detail).toContain("unreachable too long: http://b");
  });

  test("refusals count at once: a receipt two validators say they never attested cannot settle", () => {
    const charges = [charge(s1, 1, { refusedBy: [B, C] }), charge(s1, 2, { refusedBy: [C] })];
    expect(chargesToRelease(input({ charges })).map((r) => r.charge.requestId)).toEqual(["r1"]);
  });

  test("a closed session's charges are released: nothing more can be settled from it", () => {
    const charges = [charge(s2, 1)];
    const sessions = new Map([[s2, { settled: 0n, amounts: amounts(10), closed: true }]]);
    expect(chargesToRelease(input({ charges, sessions })).map((r) => r.reason)).toEqual(["session_closed"]);
  });

  test("after a release, later charges no voucher adds up to are released once the gap outlasts the bound", () => {
    // The client signed 10, 20, 30, 45 (its last request cost 15); the second charge (10) was
    // released, so the rest add up to 10, 20, 35: 35 was never signed.
    const charges = [charge(s1, 1), charge(s1, 3), charge(s1, 4, { price: "15" })];
    const sessions = new Map([[s1, { settled: 0n, amounts: amounts(10, 20, 30, 45), closed: false }]]);
    const soon = input({ charges, sessions, lastReleaseAt: new Map([[s1, 8 * MIN]]) });
    expect(chargesToRelease(soon)).toEqual([]);
    const late = input({ charges, sessions, lastReleaseAt: new Map([[s1, 4 * MIN]]) });
    expect(chargesToRelease(late).map((r) => [r.charge.requestId, r.reason])).toEqual([
      ["r4", "voucher_gap"],
    ]);
  });

  test("without an earlier release, a charge no voucher covers waits for one, then is released as unacknowledged", () => {
    // Settled 0; the client signed 10 and 20 (what it received): a third charge of 10 (a result
    // it never got) and a fourth made later find no voucher.
    const charges = [charge(s1, 1), charge(s1, 2), charge(s1, 3), charge(s1, 4, { addedAt: 7 * MIN })];
    const sessions = new Map([[s1, { settled: 0n, amounts: amounts(10, 20), closed: false }]]);
    expect(chargesToRelease(input({ charges, sessions, now: 4 * MIN }))).toEqual([]);
    const released = chargesToRelease(input({ charges, sessions, now: 6 * MIN }));
    expect(released.map((r) => [r.charge.requestId, r.reason])).toEqual([["r3", "unacknowledged"]]);
    expect(released[0]?.detail).toContain("did not acknowledge");
    expect(
      chargesToRelease(input({ charges, sessions, now: 12 * MIN })).map((r) => r.charge.requestId),
    ).toEqual(["r3", "r4"]);
    // Once the client's voucher arrives, covered charges are never released.
    const acknowledged = new Map([[s1, { settled: 0n, amounts: amounts(10, 20, 40), closed: false }]]);
    expect(chargesToRelease(input({ charges, sessions: acknowledged, now: 12 * MIN }))).toEqual([]);
  });

  test("with one price per session the client's earlier vouchers cover the shifted totals", () => {
    const charges = [charge(s1, 1), charge(s1, 3), charge(s1, 4)];
    const late = input({ charges, lastReleaseAt: new Map([[s1, 0]]) });
    expect(chargesToRelease(late)).toEqual([]);
  });

  test("charges whose only voucher spans two pairs of attesters are released once refused and old enough", () => {
    // r1-r2 attested by A and B, r3-r4 by A and C (B was down; the attestations that would
    // have bridged them were lost): the client's one voucher (40) pays for all four together.
    const sessions = new Map([[s1, { settled: 0n, amounts: amounts(40), closed: false }]]);
    const refusedAll = [
      charge(s1, 1, { attesters: [A, B], refusedBy: [C] }),
      charge(s1, 2, { attesters: [A, B], refusedBy: [C] }),
      charge(s1, 3, { attesters: [A, C], refusedBy: [B] }),
      charge(s1, 4, { attesters: [A, C], refusedBy: [B] }),
    ];
    const released = chargesToRelease(input({ charges: refusedAll, sessions }));
    expect(released.map((r) => [r.charge.requestId, r.reason])).toEqual([
      ["r1", "no_common_quorum"],
      ["r2", "no_common_quorum"],
      ["r3", "no_common_quorum"],
      ["r4", "no_common_quorum"],
    ]);
    expect(released[0]?.detail).toContain("http://c refused 2");
    // Too young: kept.
    expect(chargesToRelease(input({ charges: refusedAll, sessions, now: 4 * MIN }))).toEqual([]);
    // Until a validator refuses, it may have attested (what the gateway knows of attesters
    // can be short): nothing is released while C was never asked about r1-r2.
    const notAsked = refusedAll.map((c, i) => (i < 2 ? { ...c, refusedBy: [] } : c));
    expect(chargesToRelease(input({ charges: notAsked, sessions }))).toEqual([]);
    // A later voucher that one quorum can meet by skipping what it cannot sign: nothing released.
    const more = [...refusedAll, charge(s1, 5, { attesters: [A, B] }), charge(s1, 6, { attesters: [A, B] })];
    const later = new Map([[s1, { settled: 0n, amounts: amounts(40, 60), closed: false }]]);
    expect(chargesToRelease(input({ charges: more, sessions: later }))).toEqual([]);
  });

  test("only the first run without a common quorum goes; the runs after it are judged on their own", () => {
    // No quorum meets 20 or 35, even skipping what it cannot sign (10 + 15 is no voucher).
    const sessions = new Map([[s1, { settled: 0n, amounts: amounts(20, 35), closed: false }]]);
    const charges = [
      charge(s1, 1, { refusedBy: [C] }),
      charge(s1, 2, { refusedBy: [B] }),
      charge(s1, 3, { price: "15" }),
    ];
    expect(chargesToRelease(input({ charges, sessions })).map((r) => r.charge.requestId)).toEqual([
      "r1",
      "r2",
    ]);
  });

  test("uncovered: charges past the last voucher the running total meets", () => {
    const list = [charge(s1, 1), charge(s1, 2), charge(s1, 3)];
    expect(uncovered(list, 5n, amounts(15, 25)).map((c) => c.requestId)).toEqual(["r3"]);
    expect(uncovered(list, 0n, amounts()).map((c) => c.requestId)).toEqual(["r1", "r2", "r3"]);
  });
});

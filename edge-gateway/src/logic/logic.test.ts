import { describe, expect, test } from "bun:test";
import { BaseError, REQUEST_STATES } from "@ncn/protocol";
import { ADMISSION_TTL_MS, admittedAgents } from "./admission.ts";
import { takeToken } from "./rate-limit.ts";
import { canTransition, isTerminal } from "./request-machine.ts";
import { type AgentView, ewma, pickAgent, shardOf } from "./scheduler.ts";
import {
  authorize,
  chargeLease,
  commit,
  endStream,
  grantLease,
  keepVoucher,
  MAX_VOUCHERS,
  needsAcknowledgement,
  newLedger,
  pruneVouchers,
  release,
  releaseCharged,
  reservedTotal,
  returnLease,
  voucherUsed,
} from "./session-ledger.ts";

const agent = (address: string, over: Partial<AgentView> = {}): AgentView => ({
  address,
  runtimes: ["onnx"],
  cachedModels: [],
  maxConcurrency: 2,
  running: 0,
  reputation: 0,
  latencyMs: undefined,
  ...over,
});
const needs = { runtime: "onnx", modelHashes: ["h"], exclude: new Set<string>() };

describe("scheduler", () => {
  test("picks the least loaded capable agent", () => {
    const a = [agent("a", { running: 1 }), agent("b"), agent("c", { runtimes: ["python"] })];
    expect(pickAgent(a, needs)?.address).toBe("b");
  });
  test("skips full, excluded and incapable agents; none left -> undefined", () => {
    const a = [agent("a", { running: 2 }), agent("b"), agent("c", { runtimes: ["python"] })];
    expect(pickAgent(a, { ...needs, exclude: new Set(["b"]) })).toBeUndefined();
  });
  test("at equal load, reputation, a warm cache and low latency win", () => {
    expect(pickAgent([agent("a", { reputation: -10 }), agent("b", { reputation: 10 })], needs)?.address).toBe(
      "b",
    );
    expect(pickAgent([agent("a"), agent("b", { cachedModels: ["h"] })], needs)?.address).toBe("b");
    expect(pickAgent([agent("a", { latencyMs: 900 }), agent("b", { latencyMs: 20 })], needs)?.address).toBe(
      "b",
    );
    // Load dominates reputation.
    expect(pickAgent([agent("a", { reputation: 100, running: 1 }), agent("b")], needs)?.address).toBe("b");
  });
  test("shards spread agents and are stable", () => {
    const counts = [0, 0, 0, 0];
    for (let i = 0; i < 400; i++) {
      const s = shardOf(`0x${i.toString(16).padStart(40, "0")}`, 4);
      counts[s] = (counts[s] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(60);
    expect(shardOf("0xABC", 7)).toBe(shardOf("0xabc", 7));
  });
  test("ewma moves towards samples", () => {
    expect(ewma(undefined, 10)).toBe(10);
    expect(ewma(10, 20, 0.5)).toBe(15);
  });
});

describe("request state machine", () => {
  test("the happy path is allowed in order and terminal states are final", () => {
    const path = [
      "received",
      "payment_checked",
      "reserved",
      "dispatched",
      "result_signed",
      "completion_validated",
      "settled",
      "returned",
    ] as const;
    for (let i = 0; i + 1 < path.length; i++)
      expect(canTransition(path[i] as never, path[i + 1] as never)).toBe(true);
    for (const s of REQUEST_STATES) {
      if (isTerminal(s)) expect(REQUEST_STATES.some((t) => canTransition(s, t))).toBe(false);
      else expect(canTransition(s, "failed")).toBe(true);
    }
    expect(canTransition("received", "dispatched")).toBe(false);
    expect(canTransition("dispatched", "settled")).toBe(false);
  });
});

describe("session ledger", () => {
  const session = { client: "0xc", gateway: "0xg", deposit: 100n, settled: 0n, expiry: 2_000 };
  test("a voucher must cover everything outstanding; failures are never charged", () => {
    let l = newLedger(session);
    l = authorize(l, "r1", 10n, 10n, 1000);
    l = authorize(l, "r2", 10n, 20n, 1000);
    expect(reservedTotal(l)).toBe(20n);
    expect(() => authorize(l, "r3", 10n, 25n, 1000)).toThrow(BaseError);
    l = release(l, "r1"); // r1 failed
    l = commit(l, "r2");
    expect(l.charged).toBe(10n);
    l = commit(l, "r2"); // idempotent
    expect(l.charged).toBe(10n);
    l = authorize(l, "r3", 10n, 30n, 1000);
    expect(reservedTotal(l)).toBe(10n);
  });
  test("a request priced per token is charged its usage and the rest of its reservation is released at once", () => {
    let l = authorize(newLedger(session), "r1", 40n, 40n, 1000); // authorised for its maximum
    l = commit(l, "r1", 13n);
    expect(l.charged).toBe(13n);
    expect(reservedTotal(l)).toBe(0n);
    expect(needsAcknowledgement(l)).toBe(true); // no voucher equals 13 yet
    expect(commit(l, "r1", 13n)).toBe(l); // charged once
    // Never above what was reserved: vouchers never cover less than what is charged.
    const held = authorize(newLedger(session), "r2", 40n, 40n, 1000);
    expect(() => commit(held, "r2", 41n)).toThrow(BaseError);
    expect(() => commit(held, "r2", -1n)).toThrow(BaseError);
  });
  test("only the payer spends: a voucher already shown or already settled pays for nothing", () => {
    let l = keepVoucher(authorize(newLedger(session), "r1", 10n, 10n, 1000), 10n, "0xa");
    l = keepVoucher(authorize(l, "r2", 10n, 20n, 1000), 20n, "0xb");
    l = release(l, "r2"); // r2 failed: its voucher stays spent, a stranger cannot reuse it
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return `${(e as BaseError).code}:${(e as BaseError).shortMessage.includes("already used")}`;
      }
      return "none";
    };
    expect(code(() => authorize(l, "stranger", 10n, 20n, 1000))).toBe("PAYMENT_REQUIRED:true");
    expect(code(() => authorize(l, "stranger", 5n, 10n, 1000))).toBe("PAYMENT_REQUIRED:true");
    // A voucher of a settled amount (as read from a mined settlement) is refused too.
    const settled = pruneVouchers(l, 10n);
    expect(code(() => authorize(settled, "stranger", 1n, 10n, 1000))).toBe("PAYMENT_REQUIRED:true");
    // The client's own fresh voucher (one wei above the spent one) works.
    expect(reservedTotal(authorize(l, "r3", 10n, 21n, 1000))).toBe(20n);
    // The request that presented a voucher may retry with it (idempotent by request id).
    expect(authorize(l, "r1", 10n, 10n, 1000)).toBe(l);
  });
  test("vouchers dropped past MAX_VOUCHERS still count as used", () => {
    let l = newLedger({ ...session, deposit: 10n ** 9n });
    for (let i = 1; i <= MAX_VOUCHERS; i++) l.vouchers[String(i)] = `0x${i}`;
    l = keepVoucher(keepVoucher(l, BigInt(MAX_VOUCHERS + 1), "0xa"), BigInt(MAX_VOUCHERS + 2), "0xb");
    expect(Object.keys(l.vouchers).length).toBe(MAX_VOUCHERS);
    expect(voucherUsed(l, 1n)).toBe(true);
    expect(voucherUsed(l, 2n)).toBe(true);
    expect(voucherUsed(l, BigInt(MAX_VOUCHERS + 3))).toBe(false);
  });
  test("requests in flight: a lower voucher arriving after a higher one is covered by the higher", () => {
    let l = newLedger(session);
    // B was signed second (covers A and B) but arrives first.
    l = keepVoucher(authorize(l, "B", 10n, 20n, 1000), 20n, "0xb");
    l = authorize(l, "A", 10n, 10n, 1000);
    expect(reservedTotal(l)).toBe(20n);
    expect(() => authorize(l, "C", 10n, 10n, 1000)).toThrow(BaseError);
  });
  test("typed refusals: expired, over the deposit, too small", () => {
    const l = newLedger(session);
    const code = (f: () => unknown) => {
      try {
        f();
      } catch (e) {
        return (e as BaseError).code;
      }
      return "none";
    };
    expect(code(() => authorize(l, "r", 1n, 1n, 2_000))).toBe("PAYMENT_EXPIRED");
    expect(code(() => authorize(l, "r", 1n, 101n, 1000))).toBe("INSUFFICIENT_FUNDS");
    expect(code(() => authorize(l, "r", 5n, 4n, 1000))).toBe("PAYMENT_REQUIRED");
  });
  test("stream leases: granted up to the highest voucher, charged in batches, given back unused", () => {
    let l = keepVoucher(newLedger(session), 40n, "0xa");
    l = keepVoucher(authorize(l, "r1", 10n, 50n, 1000), 50n, "0xb"); // a per-request reservation shares the same vouchers
    const a = grantLease(l, "s1", 30n, 1000);
    expect(a.granted).toBe(30n);
    const b = grantLease(a.ledger, "s2", 30n, 1000);
    expect(b.granted).toBe(10n); // only 50 - 10 - 30 is left
    const c = grantLease(b.ledger, "s2", 30n, 1000);
    expect(c.granted).toBe(0n);
    expect(reservedTotal(c.ledger)).toBe(50n);
    l = chargeLease(c.ledger, "s1", [
      { seq: 1, price: 12n },
      { seq: 2, price: 8n },
    ]).ledger;
    expect(l.charged).toBe(20n);
    expect(reservedTotal(l)).toBe(30n);
    expect(() => chargeLease(l, "s1", [{ seq: 3, price: 11n }])).toThrow(BaseError); // more than the lease holds
    l = returnLease(l, "s1"); // stream closed: its 10 left go back
    l = returnLease(l, "s2", 4n);
    expect(reservedTotal(l)).toBe(16n);
    expect(grantLease(l, "s3", 100n, 1000).granted).toBe(14n);
    expect(() => grantLease(l, "s3", 1n, 2_000)).toThrow(BaseError); // expired
  });
  test("a stream's charges told again (replayed after a crash) are charged once", () => {
    const l0 = grantLease(keepVoucher(newLedger(session), 70n, "0xa"), "s1", 60n, 1000).ledger;
    const first = chargeLease(l0, "s1", [
      { seq: 1, price: 10n },
      { seq: 2, price: 10n },
    ]);
    expect(first.ledger.charged).toBe(20n);
    // The journal still held 1 and 2 (the hub crashed before hearing back) and had 3.
    const again = chargeLease(first.ledger, "s1", [
      { seq: 1, price: 10n },
      { seq: 2, price: 10n },
      { seq: 3, price: 10n },
    ]);
    expect(again.charged.map((c) => c.seq)).toEqual([3]);
    expect(again.ledger.charged).toBe(30n);
    expect(chargeLease(again.ledger, "s1", [{ seq: 3, price: 10n }]).ledger).toBe(again.ledger);
    // Another stream's numbering is its own.
    const other = grantLease(again.ledger, "s2", 10n, 1000).ledger;
    expect(chargeLease(other, "s2", [{ seq: 1, price: 10n }]).ledger.charged).toBe(40n);
    // The stream ends: the rest of its lease goes back, its numbering is dropped.
    const ended = endStream(again.ledger, "s1");
    expect(reservedTotal(ended)).toBe(0n);
    expect(ended.streamSeq).toEqual({});
    // A replay after the end finds no lease: refused, nothing charged.
    expect(() => chargeLease(ended, "s1", [{ seq: 1, price: 10n }])).toThrow(BaseError);
  });
  test("vouchers are kept by amount; settled ones are pruned", () => {
    let l = keepVoucher(newLedger(session), 20n, "0xa");
    l = keepVoucher(l, 10n, "0xb");
    expect(l.vouchers).toEqual({ "20": "0xa", "10": "0xb" });
    l = pruneVouchers(l, 10n);
    expect(l.vouchers).toEqual({ "20": "0xa" });
    expect(l.session.settled).toBe(10n);
    expect(keepVoucher(l, 5n, "0xc").vouchers).toEqual({ "20": "0xa" });
  });
});

describe("released charges", () => {
  const session = { client: "0xc", gateway: "0xg", deposit: 100n, settled: 0n, expiry: 2_000 };
  test("a release lowers what is charged, so the client's vouchers cover that much more", () => {
    let l = newLedger(session);
    l = authorize(l, "r1", 10n, 10n, 1000);
    l = authorize(l, "r2", 10n, 20n, 1000);
    l = commit(commit(l, "r1"), "r2");
    expect(() => authorize(l, "r3", 10n, 20n, 1000)).toThrow(BaseError);
    l = releaseCharged(l, 10n); // r1 can never be settled
    expect(l.charged).toBe(10n);
    // The voucher for 20 the client signed now covers r2 and r3: it pays for 20 of delivered work.
    expect(authorize(l, "r3", 10n, 20n, 1000).reserved.r3).toBe("10");
  });
  test("never below what is settled on chain", () => {
    let l = newLedger({ ...session, settled: 10n });
    l = authorize(l, "r1", 10n, 20n, 1000);
    l = commit(l, "r1");
    expect(() => releaseCharged(l, 11n)).toThrow("less charged than settled");
    expect(releaseCharged(l, 10n).charged).toBe(10n);
    expect(() => releaseCharged(l, -1n)).toThrow(BaseError);
  });
});

describe("rate limit", () => {
  test("a bucket empties and refills", () => {
    let r = takeToken(undefined, 0, 2, 1);
    r = takeToken(r.bucket, 0, 2, 1);
    expect(r.allowed).toBe(true);
    r = takeToken(r.bucket, 0, 2, 1);
    expect(r.allowed).toBe(false);
    expect(r.retryAfterMs).toBe(1000);
    expect(takeToken(r.bucket, 1000, 2, 1).allowed).toBe(true);
  });
});

describe("agent admission", () => {
  const listing = (agents: { address: string; aliveUntil: number; score: number }[]) => ({
    agents: agents.map((a) => ({
      address: a.address,
      aliveUntil: a.aliveUntil,
      reputation: { score: a.score },
    })),
  });
  test("admits listed, alive agents at or above the subnet's minimum, for a bounded time", () => {
    const now = 1_000_000;
    const a = `0x${"aa".repeat(20)}`;
    const b = `0x${"bb".repeat(20)}`;
    const c = `0x${"CC".repeat(20)}`;
    const admitted = admittedAgents(
      listing([
        { address: a, aliveUntil: now + 5_000, score: 0 },
        { address: b, aliveUntil: now - 1, score: 50 }, // not alive
        { address: c, aliveUntil: now + 10 * ADMISSION_TTL_MS, score: -10 }, // at the default minimum
      ]),
      undefined,
      now,
    );
    expect(admitted.get(a)).toBe(now + 5_000);
    expect(admitted.has(b)).toBe(false);
    expect(admitted.get(c.toLowerCase())).toBe(now + ADMISSION_TTL_MS);
    // A subnet that asks for more reputation admits fewer.
    expect([
      ...admittedAgents(listing([{ address: a, aliveUntil: now + 5_000, score: 0 }]), 1, now).keys(),
    ]).toEqual([]);
  });
});

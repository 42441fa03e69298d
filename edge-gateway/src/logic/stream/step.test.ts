import { describe, expect, test } from "bun:test";
import { BaseError, STREAM_PROTOCOL_VERSION, StreamClientFrame, type StreamInferFrame } from "@ncn/protocol";
import * as v from "valibot";
import {
  newStream,
  type PricedRequest,
  STREAM_LIMITS,
  type StreamControl,
  type StreamEffect,
  type StreamEvent,
  type StreamStep,
  step,
} from "./index.ts";

const SESSION = `0x${"11".repeat(32)}` as const;
const NONCE = `0x${"22".repeat(32)}` as const;
const SIG = `0x${"33".repeat(65)}` as const;
const T0 = 5_000_000;
const standing = (authorised: string, charged = "0") => ({ authorised, charged, deposit: "100000" });

const auth = v.parse(StreamClientFrame, { type: "auth", signature: SIG });
const voucher = (amount: string) => v.parse(StreamClientFrame, { type: "voucher", amount, signature: SIG });
const infer = (id: string): StreamInferFrame => {
  const f = v.parse(StreamClientFrame, {
    type: "infer",
    id,
    model: "tiny",
    inputs: { x: { dtype: "float32", dims: [1, 2], data: "AACAPwAAAEA=" } },
  });
  if (f.type !== "infer") throw new Error("not an infer frame");
  return f;
};
const req = (id: string, price = 10n): PricedRequest => ({ id, price });

function run(s: StreamControl, events: StreamEvent[], now = T0): StreamStep & { all: StreamEffect[] } {
  let out: StreamStep = { state: s, effects: [] };
  const all: StreamEffect[] = [];
  for (const e of events) {
    out = step(out.state, e, now, STREAM_LIMITS);
    all.push(...out.effects);
  }
  return { ...out, all };
}
const fresh = () => newStream<PricedRequest>(SESSION, "default", NONCE);
const ready = () =>
  run(fresh(), [
    { type: "open" },
    { type: "frame", frame: auth },
    { type: "authTurn", signature: SIG },
    { type: "authorised", standing: standing("1000") },
  ]).state;
const sent = (effects: readonly StreamEffect[]) =>
  effects.flatMap((e) => (e.type === "send" ? [e.frame] : []));
const closes = (effects: readonly StreamEffect[]) => effects.filter((e) => e.type === "close");

describe("stream reducer: the challenge", () => {
  test("open sends the challenge; its answer is checked in turn and makes the stream ready", () => {
    const opened = step(fresh(), { type: "open" }, T0, STREAM_LIMITS);
    expect(sent(opened.effects)).toEqual([
      { type: "challenge", v: STREAM_PROTOCOL_VERSION, nonce: NONCE } as never,
    ]);
    const framed = step(opened.state, { type: "frame", frame: auth }, T0, STREAM_LIMITS);
    expect(framed.state.authPending).toBe(true);
    expect(framed.effects).toEqual([{ type: "queueAuth", signature: SIG }]);
    const turn = step(framed.state, { type: "authTurn", signature: SIG }, T0, STREAM_LIMITS);
    expect(turn.effects).toEqual([{ type: "verifyAuth", signature: SIG }]);
    const ok = step(turn.state, { type: "authorised", standing: standing("1000", "30") }, T0, STREAM_LIMITS);
    expect(ok.state.phase).toBe("ready");
    expect(sent(ok.effects)[0]).toMatchObject({
      type: "ready",
      authorised: "1000",
      charged: "30",
      subnet: "default",
    });
  });

  test("a refused answer closes the stream 4003; an expired session says so", () => {
    const base = run(fresh(), [{ type: "frame", frame: auth }]).state;
    const refused = step(
      base,
      { type: "authRefused", error: new BaseError("PAYMENT_REQUIRED", "not the client") },
      T0,
      STREAM_LIMITS,
    );
    expect(refused.state.phase).toBe("closed");
    expect(closes(refused.effects)).toEqual([
      { type: "close", code: 4003, reason: "not the session's client" },
    ]);
    expect(sent(refused.effects)[0]).toMatchObject({ type: "error", code: "PAYMENT_REQUIRED" });
    const expired = step(
      base,
      { type: "authRefused", error: new BaseError("PAYMENT_EXPIRED", "expired") },
      T0,
      STREAM_LIMITS,
    );
    expect(closes(expired.effects)).toEqual([{ type: "close", code: 4003, reason: "session expired" }]);
  });

  test("a voucher before auth closes 4003 and nothing is verified", () => {
    const out = run(fresh(), [
      { type: "frame", frame: voucher("500") },
      { type: "voucherTurn", amount: 500n, signature: SIG },
    ]);
    expect(out.state.phase).toBe("closed");
    expect(closes(out.all)).toEqual([{ type: "close", code: 4003, reason: "not the session's client" }]);
    expect(out.all.some((e) => e.type === "verifyVoucher")).toBe(false);
  });

  test("a voucher whose turn comes after the close still counts; only on a stream that was authorised", () => {
    const late = run({ ...ready(), waiting: [req("a")] }, [
      { type: "frame", frame: voucher("500") },
      { type: "closed" },
      { type: "voucherTurn", amount: 500n, signature: SIG },
    ]);
    expect(late.effects).toEqual([{ type: "verifyVoucher", amount: 500n, signature: SIG }]);
    const accepted = step(
      late.state,
      { type: "voucherAccepted", voucher: { amount: 500n, signature: SIG }, standing: standing("500") },
      T0,
      STREAM_LIMITS,
    );
    expect(accepted.state.top).toEqual({ amount: 500n, signature: SIG });
    expect(accepted.effects).toEqual([]); // no lease, no request run after the close
    const never = run(fresh(), [{ type: "closed" }, { type: "voucherTurn", amount: 500n, signature: SIG }]);
    expect(never.all.some((e) => e.type === "verifyVoucher")).toBe(false);
  });

  test("a request before auth gets 402; right behind a pending auth it waits for it", () => {
    const none = step(
      fresh(),
      { type: "infer", frame: infer("a"), duplicate: false, inFlight: 0 },
      T0,
      STREAM_LIMITS,
    );
    expect(sent(none.effects)[0]).toMatchObject({ type: "error", id: "a", code: "PAYMENT_REQUIRED" });
    const pending = run(fresh(), [{ type: "frame", frame: auth }]).state;
    const deferred = step(
      pending,
      { type: "infer", frame: infer("a"), duplicate: false, inFlight: 0 },
      T0,
      STREAM_LIMITS,
    );
    expect(deferred.effects).toEqual([{ type: "defer", frame: infer("a") }]);
  });

  test("a second answer to the challenge once ready verifies nothing", () => {
    const out = step(ready(), { type: "authTurn", signature: SIG }, T0, STREAM_LIMITS);
    expect(out.effects).toEqual([]);
  });
});

describe("stream reducer: vouchers and frame limits", () => {
  test("an accepted voucher raises the top voucher; a lower one does not replace it", () => {
    const s = run(ready(), [
      { type: "voucherAccepted", voucher: { amount: 900n, signature: SIG }, standing: standing("900") },
      { type: "voucherAccepted", voucher: { amount: 500n, signature: SIG }, standing: standing("900") },
    ]).state;
    expect(s.top?.amount).toBe(900n);
  });

  test("a voucher the client did not sign closes 4003; another refusal is only reported", () => {
    const forged = step(
      ready(),
      { type: "voucherRefused", error: new BaseError("PAYMENT_REQUIRED", "not the client's") },
      T0,
      STREAM_LIMITS,
    );
    expect(closes(forged.effects)).toHaveLength(1);
    expect(forged.state.phase).toBe("closed");
    const low = step(
      ready(),
      { type: "voucherRefused", error: new BaseError("INSUFFICIENT_FUNDS", "over the deposit") },
      T0,
      STREAM_LIMITS,
    );
    expect(low.state.phase).toBe("ready");
    expect(sent(low.effects)[0]).toMatchObject({ type: "error", code: "INSUFFICIENT_FUNDS" });
  });

  test("vouchers faster than the limit close the stream 4008 and its lease goes back", () => {
    let s: StreamControl = { ...ready(), lease: 70n };
    let effects: readonly StreamEffect[] = [];
    let n = 0;
    while (s.phase !== "closed" && n < 1_000) {
      ({ state: s, effects } = step(
        s,
        { type: "frame", frame: voucher(String(1000 + n)) },
        T0,
        STREAM_LIMITS,
      ));
      n += 1;
    }
    // The auth frame took one voucher token of the burst.
    expect(n).toBe(STREAM_LIMITS.vouchersBurst);
    expect(closes(effects)).toEqual([{ type: "close", code: 4008, reason: "too many frames" }]);
    expect(effects).toContainEqual({ type: "returnLease", amount: 70n });
    expect(s.lease).toBe(0n);
  });

  test("frames of any kind past their burst close 4008; after a pause they pass again", () => {
    let s = ready();
    for (let i = 0; i < STREAM_LIMITS.framesBurst - 1; i++)
      s = step(s, { type: "frame", frame: infer(`r${i}`) }, T0, STREAM_LIMITS).state;
    const later = step(s, { type: "frame", frame: infer("x") }, T0 + 1_000, STREAM_LIMITS);
    expect(later.state.phase).toBe("ready");
    const burst = step(s, { type: "frame", frame: infer("x") }, T0, STREAM_LIMITS);
    expect(burst.state.phase).toBe("closed");
    expect(closes(burst.effects)[0]).toMatchObject({ code: 4008 });
  });
});

describe("stream reducer: the in-flight window and the lease", () => {
  test("an id in flight twice gets CONFLICT; past maxInFlight RATE_LIMITED; else admitted without a copy", () => {
    const s = ready();
    const dup = step(
      s,
      { type: "infer", frame: infer("a"), duplicate: true, inFlight: 1 },
      T0,
      STREAM_LIMITS,
    );
    expect(sent(dup.effects)[0]).toMatchObject({ id: "a", code: "CONFLICT" });
    const full = step(
      s,
      { type: "infer", frame: infer("b"), duplicate: false, inFlight: STREAM_LIMITS.maxInFlight },
      T0,
      STREAM_LIMITS,
    );
    expect(sent(full.effects)[0]).toMatchObject({ id: "b", code: "RATE_LIMITED" });
    const ok = step(
      s,
      { type: "infer", frame: infer("c"), duplicate: false, inFlight: 3 },
      T0,
      STREAM_LIMITS,
    );
    expect(ok.effects).toEqual([{ type: "admit", frame: infer("c") }]);
    expect(ok.state).toBe(s);
  });

  test("a priced request with no credit waits and leases; one lease call at a time", () => {
    const first = step(ready(), { type: "priced", request: req("a") }, T0, STREAM_LIMITS);
    expect(first.effects).toEqual([{ type: "lease", want: 10n * STREAM_LIMITS.leaseRequests + 10n }]);
    expect(first.state.waiting).toHaveLength(1);
    const second = step(first.state, { type: "priced", request: req("b") }, T0, STREAM_LIMITS);
    expect(second.effects).toEqual([]);
    const granted = step(
      second.state,
      { type: "leased", granted: 2_560n, standing: standing("3000") },
      T0,
      STREAM_LIMITS,
    );
    expect(granted.effects).toEqual([
      { type: "run", request: req("a") },
      { type: "run", request: req("b") },
    ]);
    expect(granted.state.lease).toBe(2_540n);
    expect(granted.state.leasing).toBe(false);
  });

  test("with credit a request runs at once; below a quarter of a lease more is asked", () => {
    const s = { ...ready(), lease: 700n };
    const out = step(s, { type: "priced", request: req("a") }, T0, STREAM_LIMITS);
    expect(out.state.lease).toBe(690n);
    expect(out.effects).toEqual([{ type: "run", request: req("a") }]);
    const low = step({ ...s, lease: 600n }, { type: "priced", request: req("a") }, T0, STREAM_LIMITS);
    expect(low.effects.map((e) => e.type)).toEqual(["run", "lease"]);
  });

  test("requests past the authorised window get 402 and cost nothing", () => {
    const waiting = run(ready(), [
      { type: "priced", request: req("a") },
      { type: "priced", request: req("b") },
    ]).state;
    const out = step(
      waiting,
      { type: "leased", granted: 0n, standing: standing("1000", "1000") },
      T0,
      STREAM_LIMITS,
    );
    const refuse = out.effects.find((e) => e.type === "refuse");
    expect(refuse).toMatchObject({ requests: [req("a"), req("b")] });
    expect(refuse?.type === "refuse" && refuse.error.code).toBe("PAYMENT_REQUIRED");
    expect(out.effects.some((e) => e.type === "run")).toBe(false);
    expect(out.state.waiting).toEqual([]);
    expect(out.state.lease).toBe(0n);
  });

  test("a voucher accepted while requests wait leases for them", () => {
    const waiting = run(ready(), [
      { type: "priced", request: req("a") },
      { type: "leased", granted: 0n, standing: standing("1000", "1000") },
    ]);
    const again = run(waiting.state, [
      { type: "priced", request: req("b") },
      { type: "leased", granted: 5n, standing: standing("1000", "1000") },
    ]).state;
    const out = step(
      again,
      { type: "voucherAccepted", voucher: { amount: 5000n, signature: SIG }, standing: standing("5000") },
      T0,
      STREAM_LIMITS,
    );
    expect(out.effects).toEqual([{ type: "lease", want: 10n * STREAM_LIMITS.leaseRequests + 10n }]);
  });

  test("released credit returns to the lease, or to the session once closed", () => {
    const open = step(ready(), { type: "released", price: 10n }, T0, STREAM_LIMITS);
    expect(open.state.lease).toBe(10n);
    expect(open.effects).toEqual([]);
    const closed = run({ ...ready(), lease: 40n }, [{ type: "closed" }, { type: "released", price: 10n }]);
    expect(closed.all).toEqual([
      { type: "returnLease", amount: 40n },
      { type: "windDown" },
      { type: "returnLease", amount: 10n },
    ]);
  });

  test("a lease granted after the close goes straight back; frames after the close are ignored", () => {
    const closed = run(ready(), [{ type: "priced", request: req("a") }, { type: "closed" }]).state;
    const late = step(
      closed,
      { type: "leased", granted: 2_560n, standing: standing("3000") },
      T0,
      STREAM_LIMITS,
    );
    expect(late.effects).toEqual([{ type: "returnLease", amount: 2_560n }]);
    expect(late.effects.some((e) => e.type === "run")).toBe(false);
    for (const e of [
      { type: "frame", frame: voucher("9") },
      { type: "infer", frame: infer("z"), duplicate: false, inFlight: 0 },
      { type: "authorised", standing: standing("1") },
      { type: "priced", request: req("z") },
    ] satisfies StreamEvent[]) {
      expect(step(closed, e, T0, STREAM_LIMITS).effects).toEqual([]);
    }
  });

  test("charged results update the standing and tell the client", () => {
    const out = step(
      ready(),
      { type: "charged", standing: standing("1000", "40"), requests: 4 },
      T0,
      STREAM_LIMITS,
    );
    expect(sent(out.effects)).toEqual([{ type: "charged", total: "40", requests: 4 } as never]);
  });
});

import { expect, test } from "bun:test";
import { BaseError, StreamClientFrame } from "@ncn/protocol";
import fc from "fast-check";
import * as v from "valibot";
import { newStream, type PricedRequest, STREAM_LIMITS, type StreamEvent, step } from "./index.ts";

const SIG = `0x${"33".repeat(65)}` as const;
const standing = { authorised: "1000", charged: "0", deposit: "5000" };
const auth = v.parse(StreamClientFrame, { type: "auth", signature: SIG });
const voucher = v.parse(StreamClientFrame, { type: "voucher", amount: "900", signature: SIG });

let serial = 0;
let runsThatSpent = 0;
let runsThatReturned = 0;
const event: fc.Arbitrary<StreamEvent> = fc.oneof(
  fc.constant<StreamEvent>({ type: "frame", frame: auth }),
  fc.constant<StreamEvent>({ type: "frame", frame: voucher }),
  fc.constant<StreamEvent>({ type: "authTurn", signature: SIG }),
  fc.constant<StreamEvent>({ type: "authorised", standing }),
  fc.constant<StreamEvent>({ type: "authRefused", error: new BaseError("PAYMENT_REQUIRED", "no") }),
  fc.constant<StreamEvent>({ type: "voucherTurn", amount: 900n, signature: SIG }),
  fc.constant<StreamEvent>({ type: "voucherAccepted", voucher: { amount: 900n, signature: SIG }, standing }),
  fc.constantFrom("PAYMENT_REQUIRED", "INSUFFICIENT_FUNDS" as const).map<StreamEvent>((code) => ({
    type: "voucherRefused",
    error: new BaseError(code, "no"),
  })),
  {
    weight: 8,
    arbitrary: fc.bigInt({ min: 1n, max: 50n }).map<StreamEvent>((price) => ({
      type: "priced",
      request: { id: `r${serial++}`, price },
    })),
  },
  {
    weight: 4,
    arbitrary: fc
      .bigInt({ min: 0n, max: 3_000n })
      .map<StreamEvent>((granted) => ({ type: "leased", granted, standing })),
  },
  fc.constant<StreamEvent>({ type: "leaseFailed", error: new BaseError("UNAVAILABLE", "down") }),
  fc.bigInt({ min: 1n, max: 50n }).map<StreamEvent>((price) => ({ type: "released", price })),
  fc.constant<StreamEvent>({ type: "closed" }),
);

test("for any sequence of events: credit is neither lost nor made, nothing runs without credit or after the close", () => {
  fc.assert(
    fc.property(fc.array(event, { maxLength: 80 }), (events) => {
      let s = newStream<PricedRequest>(`0x${"11".repeat(32)}`, "default", `0x${"22".repeat(32)}`);
      let granted = 0n;
      let spent = 0n;
      let returned = 0n;
      let given = 0n;
      for (const e of events) {
        const before = s;
        const out = step(s, e, 1_000, STREAM_LIMITS);
        s = out.state;
        if (e.type === "leased") granted += e.granted;
        if (e.type === "released") given += e.price;
        if (before.phase === "closed") expect(s.phase).toBe("closed");
        for (const effect of out.effects) {
          if (effect.type === "run") {
            expect(before.phase).not.toBe("closed");
            spent += effect.request.price;
          }
          if (effect.type === "returnLease") returned += effect.amount;
          if (effect.type === "send" && before.phase === "closed") throw new Error("sent after the close");
        }
        expect(s.lease >= 0n).toBe(true);
        // Every unit of credit granted (or given back by a request) is leased, spent or returned.
        expect(granted + given).toBe(s.lease + spent + returned);
        if (s.phase === "closed") expect(s.lease).toBe(0n);
      }
      if (spent > 0n) runsThatSpent += 1;
      if (returned > 0n) runsThatReturned += 1;
    }),
    { seed: 20261206, numRuns: 2_000 },
  );
  // The runs reach the rules under test: credit is spent in many, returned in many.
  expect(runsThatSpent).toBeGreaterThan(200);
  expect(runsThatReturned).toBeGreaterThan(200);
});

import { expect, test } from "bun:test";
import fc from "fast-check";
import { isTerminal } from "../request-machine.ts";
import { AGENT_A, AGENT_B, attestations, CONFIG, RESULT, receiptOf, record, T0, taskOf } from "./fixtures.ts";
import { step } from "./index.ts";
import type { RequestEvent } from "./types.ts";

const agent = fc.constantFrom(AGENT_A, AGENT_B);
const attempt = fc.integer({ min: 1, max: 4 });
const error = fc.record({
  code: fc.constantFrom("AGENT_TIMEOUT", "VALIDATION_REFUSED", "PAYMENT_REQUIRED", "CHAIN_ERROR" as const),
  message: fc.constant("x"),
});

/** Every kind of event, with agents and attempts that may or may not be the current ones. */
const event: fc.Arbitrary<RequestEvent> = fc.oneof(
  fc.constant<RequestEvent>({ type: "submitted" }),
  fc.constant<RequestEvent>({ type: "paymentChecked", payer: "0xpayer" }),
  error.map<RequestEvent>((e) => ({ type: "paymentRefused", error: e })),
  fc
    .tuple(agent, attempt)
    .map<RequestEvent>(([a, n]) => ({ type: "dispatched", task: taskOf(a, n), attempt: n })),
  fc.constant<RequestEvent>({ type: "noAgent" }),
  error.map<RequestEvent>((e) => ({ type: "dispatchFailed", error: e })),
  agent.map<RequestEvent>((a) => ({
    type: "preprocessAttested",
    agent: a,
    attestations: attestations(2, 0),
  })),
  fc.tuple(agent, error, fc.boolean()).map<RequestEvent>(([a, e, agentCaused]) => ({
    type: "preprocessRefused",
    agent: a,
    error: e,
    agentCaused,
  })),
  fc.tuple(agent, attempt).map<RequestEvent>(([a, n]) => ({
    type: "resultSigned",
    taskId: `r1:${n}`,
    agent: a,
    result: RESULT,
    receipt: receiptOf(a),
  })),
  fc.tuple(agent, attempt).map<RequestEvent>(([a, n]) => ({
    type: "resultRefused",
    taskId: `r1:${n}`,
    agent: a,
    problem: "forged",
  })),
  fc
    .tuple(agent, attempt, error)
    .map<RequestEvent>(([a, n, e]) => ({ type: "taskFailed", taskId: `r1:${n}`, agent: a, error: e })),
  fc.constant<RequestEvent>({
    type: "completionAttested",
    attestations: attestations(2, 1),
    attesters: ["u1"],
  }),
  error.map<RequestEvent>((e) => ({ type: "completionRefused", error: e })),
  fc.constant<RequestEvent>({ type: "settled" }),
  error.map<RequestEvent>((e) => ({ type: "settleFailed", error: e })),
  fc.constant<RequestEvent>({ type: "cancel" }),
  fc.constant<RequestEvent>({ type: "alarm" }),
  fc.constant<RequestEvent>({ type: "resume" }),
);

/** The path to a charge, to be shuffled among random events: without it few random runs get that far. */
const HAPPY: RequestEvent[] = [
  { type: "submitted" },
  { type: "paymentChecked", payer: "0xpayer" },
  { type: "dispatched", task: taskOf(AGENT_A, 1), attempt: 1 },
  { type: "preprocessAttested", agent: AGENT_A, attestations: attestations(2, 0) },
  { type: "resultSigned", taskId: "r1:1", agent: AGENT_A, result: RESULT, receipt: receiptOf(AGENT_A) },
  { type: "completionAttested", attestations: attestations(2, 1), attesters: ["u1"] },
  { type: "settled" },
];

/** Random events with, in half the runs, the happy path's events spread among them in order. */
const sequence = fc
  .tuple(
    fc.array(fc.tuple(event, fc.integer({ min: 0, max: 40_000 })), { maxLength: 40 }),
    fc.boolean(),
    fc.array(fc.nat(), { minLength: HAPPY.length, maxLength: HAPPY.length }),
  )
  .map(([random, withHappy, spots]) => {
    if (!withHappy) return random;
    const out = [...random];
    HAPPY.forEach((e, i) => {
      const at = Math.min(out.length, (spots[i] ?? 0) % (out.length + 1));
      out.splice(at, 0, [e, 10]);
    });
    // Keep the happy events in their order: re-sort them among themselves by position.
    let k = 0;
    return out.map((x) => (HAPPY.includes(x[0]) ? ([HAPPY[k++] as RequestEvent, x[1]] as const) : x));
  });

let charges = 0;
let returned = 0;

test("for any sequence of events: charged at most once, only with a validated result, terminal stays terminal", () => {
  fc.assert(
    fc.property(sequence, (events) => {
      let req = record();
      let settledTimes = 0;
      let failedOrCancelled = false;
      let charging = false;
      let now = T0;
      for (const [e, dt] of events) {
        now += dt % 2_000; // time only moves forward; some runs pass the deadline
        const before = req;
        const out = step(req, e, now, CONFIG);
        req = out.state;
        if (isTerminal(before.state)) {
          expect(req).toBe(before);
          expect(out.effects.filter((x) => x.type !== "cancelTask")).toEqual([]);
        }
        if (req.state === "settled" || (req.state === "returned" && !isTerminal(before.state)))
          if (before.state === "completion_validated") settledTimes += 1;
        for (const effect of out.effects) {
          if (effect.type === "charge") {
            charges += 1;
            charging = true;
            // Charged only for a result whose preprocessing and completion validators attested.
            expect(req.state).toBe("completion_validated");
            expect(req.result && req.receipt && req.preprocess && req.completion).toBeTruthy();
            expect(failedOrCancelled).toBe(false);
          }
          if (effect.type === "fail") {
            expect(effect.charged).toBe(false);
            expect(settledTimes).toBe(0); // a failed request was never charged
            // With a charge under way only its own failure may end the request: a cancel or
            // the deadline then would withhold a result whose charge may be committed.
            if (charging) expect(e.type).toBe("settleFailed");
          }
        }
        if (req.state === "failed" || req.state === "cancelled") failedOrCancelled = true;
        expect(settledTimes).toBeLessThanOrEqual(1);
      }
      if (req.state === "returned") returned += 1;
    }),
    { seed: 20261206, numRuns: 3_000 },
  );
  // The runs reach the rules under test: some are charged and returned, others fail on the way.
  expect(charges).toBeGreaterThan(100);
  expect(returned).toBeGreaterThan(50);
});

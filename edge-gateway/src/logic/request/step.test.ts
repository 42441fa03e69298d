import { describe, expect, test } from "bun:test";
import { TaskInput } from "@ncn/protocol";
import * as v from "valibot";
import {
  AGENT_A,
  AGENT_B,
  attestations,
  CONFIG,
  ESCROW_PAYMENT,
  RESULT,
  receiptOf,
  record,
  T0,
  taskOf,
} from "./fixtures.ts";
import { responseOf, step, streamsTokens, taskFrameOf } from "./index.ts";
import type { RequestEffect, RequestEvent, RequestRecord, RequestStep } from "./types.ts";

/** Steps `req` through `events` at `now`, returning the last step and every effect on the way. */
function run(
  req: RequestRecord,
  events: RequestEvent[],
  now = T0 + 10,
): RequestStep & { all: RequestEffect[] } {
  let out: RequestStep = { state: req, effects: [] };
  const all: RequestEffect[] = [];
  for (const e of events) {
    out = step(out.state, e, now, CONFIG);
    all.push(...out.effects);
  }
  return { ...out, all };
}

const types = (effects: RequestEffect[]) => effects.map((e) => e.type);
const paid: RequestEvent[] = [{ type: "submitted" }, { type: "paymentChecked", payer: "0xpayer" }];
const onA: RequestEvent[] = [...paid, { type: "dispatched", task: taskOf(AGENT_A, 1), attempt: 1 }];
const signedByA: RequestEvent[] = [
  ...onA,
  { type: "resultSigned", taskId: "r1:1", agent: AGENT_A, result: RESULT, receipt: receiptOf(AGENT_A) },
];
const preA: RequestEvent = { type: "preprocessAttested", agent: AGENT_A, attestations: attestations(2, 0) };
const completed: RequestEvent = {
  type: "completionAttested",
  attestations: attestations(2, 1),
  attesters: ["u1"],
};

describe("request reducer: the happy path", () => {
  test("submitted arms the deadline and checks the payment; a checked payment dispatches attempt 1", () => {
    const first = step(record(), { type: "submitted" }, T0, CONFIG);
    expect(first.effects).toEqual([{ type: "setAlarm", at: T0 + 30_000 }, { type: "checkPayment" }]);
    const paidStep = step(first.state, { type: "paymentChecked", payer: "0xpayer" }, T0, CONFIG);
    expect(paidStep.state.state).toBe("payment_checked");
    expect(paidStep.state.payer).toBe("0xpayer");
    expect(paidStep.effects).toContainEqual({ type: "dispatch", taskId: "r1:1", attempt: 1 });
  });

  test("dispatch -> result -> completion -> charge -> returned, charged once", () => {
    const dispatched = run(record(), onA);
    expect(dispatched.state.state).toBe("dispatched");
    expect(dispatched.state.tried).toEqual([AGENT_A]);
    // Optimistic execution: preprocessing is validated while the agent runs.
    expect(dispatched.effects).toContainEqual({ type: "validatePreprocess", agent: AGENT_A });
    const signed = run(dispatched.state, [signedByA.at(-1) as RequestEvent]);
    expect(signed.state.state).toBe("result_signed");
    // Preprocessing not yet attested: the completion waits for it.
    expect(types(signed.effects)).toContain("validatePreprocess");
    expect(types(signed.effects)).not.toContain("validateCompletion");
    const pre = step(signed.state, preA, T0, CONFIG);
    expect(types(pre.effects)).toContain("validateCompletion");
    const validated = step(pre.state, completed, T0, CONFIG);
    expect(validated.state.state).toBe("completion_validated");
    expect(types(validated.effects)).toContain("charge");
    const done = step(validated.state, { type: "settled" }, T0, CONFIG);
    expect(done.state.state).toBe("returned");
    expect(types(done.effects)).toEqual(["notify", "notify", "finish"]);
    expect(responseOf(done.state).result).toEqual(RESULT);
    expect(responseOf(validated.state).result).toBeUndefined(); // released only once returned
  });

  test("an event that does not fit the state returns the same record and no effects", () => {
    const req = run(record(), onA).state;
    for (const e of [
      { type: "settled" },
      completed,
      { type: "paymentChecked", payer: "0xother" },
      { type: "resultSigned", taskId: "r1:9", agent: AGENT_A, result: RESULT, receipt: receiptOf(AGENT_A) },
      { type: "taskFailed", taskId: "r1:1", agent: AGENT_B, error: { code: "AGENT_TIMEOUT", message: "x" } },
      { type: "progress", taskId: "r1:2", stage: "run", progress: 0.5 },
    ] satisfies RequestEvent[]) {
      const out = step(req, e, T0, CONFIG);
      expect(out.state).toBe(req);
      expect(out.effects).toEqual([]);
    }
  });
});

describe("request reducer: refusals and retries", () => {
  test("a refused payment fails the request unpaid and releases the session reservation", () => {
    const out = run(record(), [
      { type: "submitted" },
      { type: "paymentRefused", error: { code: "INSUFFICIENT_FUNDS", message: "short" } },
    ]);
    expect(out.state.state).toBe("failed");
    expect(out.state.error?.code).toBe("INSUFFICIENT_FUNDS");
    expect(out.effects).toContainEqual({ type: "release" });
    expect(out.effects).toContainEqual({
      type: "fail",
      code: "INSUFFICIENT_FUNDS",
      message: "short",
      charged: false,
      retryable: false,
    });
    expect(types(out.all)).not.toContain("charge");
  });

  test("an escrow is never released by the gateway (it expires or is refunded on chain)", () => {
    const out = run(record(ESCROW_PAYMENT), [{ type: "submitted" }, { type: "cancel" }]);
    expect(out.state.state).toBe("cancelled");
    expect(types(out.effects)).not.toContain("release");
  });

  test("preprocessing refused for the agent's sake: the task is cancelled and another agent is tried", () => {
    const out = run(record(), [
      ...onA,
      {
        type: "preprocessRefused",
        agent: AGENT_A,
        error: { code: "VALIDATION_REFUSED", message: "x" },
        agentCaused: true,
      },
    ]);
    expect(out.state.state).toBe("payment_checked");
    expect(out.state.task).toBeUndefined();
    expect(out.state.lastFailure?.code).toBe("VALIDATION_REFUSED");
    expect(out.effects).toContainEqual({
      type: "cancelTask",
      shard: 0,
      taskId: "r1:1",
      reason: "reassigned",
    });
    expect(out.effects).toContainEqual({ type: "dispatch", taskId: "r1:2", attempt: 2 });
    const again = step(out.state, { type: "dispatched", task: taskOf(AGENT_B, 2), attempt: 2 }, T0, CONFIG);
    expect(again.state.tried).toEqual([AGENT_A, AGENT_B]);
    expect(again.effects).toContainEqual({ type: "validatePreprocess", agent: AGENT_B });
  });

  test("preprocessing refused for the request's sake fails it; a stale agent's refusal changes nothing", () => {
    const req = run(record(), onA).state;
    const failed = step(
      req,
      {
        type: "preprocessRefused",
        agent: AGENT_A,
        error: { code: "PAYMENT_REQUIRED", message: "x" },
        agentCaused: false,
      },
      T0,
      CONFIG,
    );
    expect(failed.state.state).toBe("failed");
    expect(types(failed.effects)).toEqual(["cancelTask", "release", "notify", "fail", "finish"]);
    const stale = step(
      req,
      {
        type: "preprocessRefused",
        agent: AGENT_B,
        error: { code: "PAYMENT_REQUIRED", message: "x" },
        agentCaused: false,
      },
      T0,
      CONFIG,
    );
    expect(stale.state).toBe(req);
  });

  test("a refused receipt and an agent's error retry on another agent until maxAttempts", () => {
    let req = run(record(), [
      ...onA,
      { type: "resultRefused", taskId: "r1:1", agent: AGENT_A, problem: "the receipt names another agent" },
    ]).state;
    expect(req.state).toBe("payment_checked");
    expect(req.lastFailure?.code).toBe("SIGNATURE_INVALID");
    req = run(req, [
      { type: "dispatched", task: taskOf(AGENT_B, 2), attempt: 2 },
      {
        type: "taskFailed",
        taskId: "r1:2",
        agent: AGENT_B,
        error: { code: "AGENT_TIMEOUT", message: "missed" },
      },
      { type: "dispatched", task: taskOf(AGENT_A, 3), attempt: 3 },
    ]).state;
    expect(req.attempts).toBe(3);
    const last = step(
      req,
      {
        type: "taskFailed",
        taskId: "r1:3",
        agent: AGENT_A,
        error: { code: "INFERENCE_FAILED", message: "boom" },
      },
      T0,
      CONFIG,
    );
    expect(last.state.state).toBe("failed");
    expect(last.state.error).toEqual({ code: "INFERENCE_FAILED", message: "boom (after 3 attempts)" });
    expect(types(last.effects)).not.toContain("dispatch");
  });

  test("an attempt spoiled at or after the deadline is not retried", () => {
    const out = run(
      record(),
      [
        ...onA,
        {
          type: "taskFailed",
          taskId: "r1:1",
          agent: AGENT_A,
          error: { code: "AGENT_TIMEOUT", message: "x" },
        },
      ],
      T0 + 30_000,
    );
    expect(out.state.state).toBe("failed");
  });

  test("no agent left: the previous attempt's reason is reported, else NO_AGENT_AVAILABLE", () => {
    const none = run(record(), [...paid, { type: "noAgent" }]);
    expect(none.state.error?.code).toBe("NO_AGENT_AVAILABLE");
    expect(none.effects).toContainEqual(expect.objectContaining({ type: "fail", retryable: true }));
    const after = run(record(), [
      ...onA,
      {
        type: "taskFailed",
        taskId: "r1:1",
        agent: AGENT_A,
        error: { code: "AGENT_TIMEOUT", message: "agent gone" },
      },
      { type: "noAgent" },
    ]);
    expect(after.state.error).toEqual({
      code: "AGENT_TIMEOUT",
      message: "agent gone (no other agent to retry on)",
    });
  });

  test("a refused completion fails the request and it is never charged", () => {
    const out = run(record(), [
      ...signedByA,
      preA,
      { type: "completionRefused", error: { code: "VALIDATION_REFUSED", message: "outputs differ" } },
      { type: "settled" },
    ]);
    expect(out.state.state).toBe("failed");
    expect(types(out.all)).not.toContain("charge");
  });

  test("a failed charge fails the request (not charged) and releases the reservation", () => {
    const out = run(record(), [
      ...signedByA,
      preA,
      completed,
      { type: "settleFailed", error: { code: "CHAIN_ERROR", message: "reverted" } },
    ]);
    expect(out.state.state).toBe("failed");
    expect(out.effects).toContainEqual({ type: "release" });
  });

  test("a dispatch answer for a request that ended meanwhile frees the agent again", () => {
    const req = run(record(), [...paid, { type: "cancel" }]).state;
    const out = step(req, { type: "dispatched", task: taskOf(AGENT_A, 1), attempt: 1 }, T0, CONFIG);
    expect(out.state).toBe(req);
    expect(out.effects).toEqual([{ type: "cancelTask", shard: 0, taskId: "r1:1", reason: "request ended" }]);
  });

  test("a received request whose payment was never checked fails on resume", () => {
    const out = step(record(), { type: "resume" }, T0, CONFIG);
    expect(out.state.error?.code).toBe("PAYMENT_REQUIRED");
  });
});

describe("request reducer: deadline and cancel", () => {
  test("the deadline fails a running request, cancelling its task", () => {
    const out = run(record(), [...onA, { type: "alarm" }], T0 + 30_000);
    expect(out.state.state).toBe("failed");
    expect(out.state.error?.code).toBe("DEADLINE_EXCEEDED");
    expect(types(out.effects)).toContain("cancelTask");
  });

  test("the deadline never fails a request whose settlement is in flight: the charge goes on", () => {
    const validated = run(record(), [...signedByA, preA, completed]).state;
    const out = step(validated, { type: "alarm" }, T0 + 60_000, CONFIG);
    expect(out.state.state).toBe("completion_validated");
    expect(out.effects).toEqual([{ type: "charge" }]);
    const done = step(out.state, { type: "settled" }, T0 + 60_001, CONFIG);
    expect(done.state.state).toBe("returned");
  });

  test("an early alarm (after an eviction) re-arms the deadline and resumes", () => {
    const out = run(record(), [...paid, { type: "alarm" }], T0 + 5);
    expect(out.effects).toEqual([
      { type: "setAlarm", at: T0 + 30_000 },
      { type: "dispatch", taskId: "r1:1", attempt: 1 },
    ]);
  });

  test("cancellation after result_signed: cancelled, task cancelled, released, never charged", () => {
    const out = run(record(), [...signedByA, { type: "cancel" }, preA, completed, { type: "settled" }]);
    expect(out.state.state).toBe("cancelled");
    expect(out.state.error?.code).toBe("CANCELLED");
    expect(types(out.all)).toContain("release");
    expect(types(out.all)).not.toContain("charge");
  });

  test("a cancel once the completion is validated changes nothing", () => {
    const validated = run(record(), [...signedByA, preA, completed]).state;
    const out = step(validated, { type: "cancel" }, T0, CONFIG);
    expect(out.state).toBe(validated);
    expect(out.effects).toEqual([]);
  });

  test("terminal states stay terminal: every event leaves a failed request as it is", () => {
    const failed = run(record(), [...onA, { type: "cancel" }]).state;
    for (const e of [
      ...signedByA,
      preA,
      completed,
      { type: "settled" },
      { type: "alarm" },
      { type: "resume" },
    ] satisfies RequestEvent[]) {
      expect(step(failed, e, T0, CONFIG).state).toBe(failed);
    }
  });
});

describe("request reducer: resume after an eviction", () => {
  test("each stored state names the work left to do", () => {
    const noTask = run(record(), paid).state;
    expect(step(noTask, { type: "resume" }, T0, CONFIG).effects).toEqual([
      { type: "dispatch", taskId: "r1:1", attempt: 1 },
    ]);
    const signed = run(record(), signedByA).state;
    expect(step(signed, { type: "resume" }, T0, CONFIG).effects).toEqual([
      { type: "validatePreprocess", agent: AGENT_A },
    ]);
    const settledState = step(
      run(record(), [...signedByA, preA, completed]).state,
      { type: "settled" },
      T0,
      CONFIG,
    );
    expect(settledState.state.state).toBe("returned");
  });
  test("progress of the running attempt is an event in the record and a notification", () => {
    const out = run(record(), [...onA, { type: "progress", taskId: "r1:1", stage: "run", progress: 0.5 }]);
    expect(out.state.events.at(-1)).toMatchObject({
      requestId: "r1",
      state: "dispatched",
      at: T0 + 10,
      stage: "run",
      progress: 0.5,
    });
    expect(types(out.effects)).toEqual(["notify"]);
  });
});

describe("request reducer: streaming requests", () => {
  const streaming = (): RequestRecord => ({ ...record(), stream: true });
  const released: RequestEvent = { type: "tokensReleased", taskId: "r1:1", agent: AGENT_A };
  const lost: RequestEvent = {
    type: "taskFailed",
    taskId: "r1:1",
    agent: AGENT_A,
    error: { code: "AGENT_TIMEOUT", message: "agent disconnected" },
  };

  test("tokens of the running attempt mark the request streamed, once; anyone else's change nothing", () => {
    const req = run(streaming(), onA).state;
    expect(streamsTokens(req, "r1:1", AGENT_A)).toBe(true);
    expect(streamsTokens(req, "r1:1", AGENT_B)).toBe(false);
    expect(streamsTokens(req, "r1:0", AGENT_A)).toBe(false);
    const marked = step(req, released, T0, CONFIG);
    expect(marked.state.streamed).toBe(true);
    expect(marked.effects).toEqual([]);
    expect(step(marked.state, released, T0, CONFIG).state).toBe(marked.state);
    expect(step(req, { ...released, agent: AGENT_B }, T0, CONFIG).state).toBe(req);
    // A request that did not ask to stream never streams.
    const plain = run(record(), onA).state;
    expect(streamsTokens(plain, "r1:1", AGENT_A)).toBe(false);
    expect(step(plain, released, T0, CONFIG).state).toBe(plain);
  });

  test("an attempt lost after its tokens were streamed fails the request STREAM_INTERRUPTED: not retried, released, never charged", () => {
    const out = run(streaming(), [...onA, released, lost]);
    expect(out.state.state).toBe("failed");
    expect(out.state.error?.code).toBe("STREAM_INTERRUPTED");
    expect(out.state.error?.message).toContain("AGENT_TIMEOUT");
    expect(types(out.effects)).toEqual(["cancelTask", "release", "notify", "fail", "finish"]);
    expect(out.effects).toContainEqual(expect.objectContaining({ type: "fail", charged: false }));
    expect(types(out.all)).not.toContain("charge");
    // A refused receipt or a refusal for the agent's sake end it the same way.
    const refused = run(streaming(), [
      ...onA,
      released,
      { type: "resultRefused", taskId: "r1:1", agent: AGENT_A, problem: "bad" },
    ]);
    expect(refused.state.error?.code).toBe("STREAM_INTERRUPTED");
    const byValidators = run(streaming(), [
      ...onA,
      released,
      {
        type: "preprocessRefused",
        agent: AGENT_A,
        error: { code: "VALIDATION_REFUSED", message: "x" },
        agentCaused: true,
      },
    ]);
    expect(byValidators.state.error?.code).toBe("STREAM_INTERRUPTED");
  });

  test("an attempt lost before any token was streamed is retried as usual; so is any attempt of a request that does not stream", () => {
    for (const req of [streaming(), record()]) {
      const out = run(req, [...onA, lost]);
      expect(out.state.state).toBe("payment_checked");
      expect(out.effects).toContainEqual({ type: "dispatch", taskId: "r1:2", attempt: 2 });
    }
  });

  test("a streamed attempt that completes is charged as any other; the task frame asks the agent to stream", () => {
    const out = run(streaming(), [
      ...signedByA.slice(0, -1),
      released,
      signedByA.at(-1) as RequestEvent,
      preA,
    ]);
    const done = run(out.state, [completed, { type: "settled" }]);
    expect(done.state.state).toBe("returned");
    expect(types(done.all)).toContain("charge");
    const input = v.parse(TaskInput, { kind: "generate", model: "tiny", prompt: "Once", sampling: {} });
    expect(taskFrameOf({ ...streaming(), input }, "r1:1", T0 + 1000)).toMatchObject({
      kind: "generate",
      stream: true,
    });
    expect(taskFrameOf({ ...record(), input }, "r1:1", T0 + 1000)).not.toHaveProperty("stream");
  });
});

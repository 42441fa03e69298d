import { hashTaskInput, type ProgressEvent, type RequestState } from "@ncn/protocol";
import { canTransition, isTerminal } from "../request-machine.ts";
import type {
  RequestConfig,
  RequestEffect,
  RequestError,
  RequestEvent,
  RequestRecord,
  RequestStep,
  SubmitInput,
} from "./types.ts";

/** Codes after which the same request, sent again, may well succeed. */
const RETRYABLE: ReadonlySet<string> = new Set([
  "NO_AGENT_AVAILABLE",
  "UNAVAILABLE",
  "VALIDATOR_UNAVAILABLE",
  "AGENT_TIMEOUT",
  "DEADLINE_EXCEEDED",
  "INFERENCE_FAILED",
  "CHAIN_ERROR",
  "INTERNAL",
  "STREAM_INTERRUPTED",
]);

/** A new request, `received` at `now`; step it with `submitted` next. */
export function newRequest(input: SubmitInput, now: number): RequestRecord {
  return {
    ...input,
    payer: undefined,
    state: "received",
    createdAt: now,
    updatedAt: now,
    deadline: now + input.timeoutMs,
    inputHash: hashTaskInput(input.input),
    attempts: 0,
    tried: [],
    task: undefined,
    preprocess: undefined,
    result: undefined,
    receipt: undefined,
    completion: undefined,
    error: undefined,
    lastFailure: undefined,
    events: [progressEvent(input.requestId, "received", now)],
  };
}

/** Is `taskId` on `agent` the attempt now running? Anything else is a stale answer. */
export function isCurrentTask(req: RequestRecord, taskId: string, agent: string): boolean {
  return !isTerminal(req.state) && req.task?.taskId === taskId && req.task.agent === agent;
}

/**
 * May tokens of attempt `taskId` on `agent` go to the request's listeners? Only a streaming
 * request's, only from the attempt now running, only until the request ends.
 */
export function streamsTokens(req: RequestRecord, taskId: string, agent: string): boolean {
  return req.stream === true && isCurrentTask(req, taskId, agent);
}

/** May the client still cancel? Not once the result is validated: its charge may be under way. */
export function cancellable(state: RequestState): boolean {
  return !isTerminal(state) && state !== "completion_validated" && state !== "settled";
}

/**
 * The request's lifecycle rules: the next state and what the shell must do, for one event.
 * Pure: the same record, event, time and config give the same answer; an event that does
 * not fit the state returns the record unchanged (same object) and no effects.
 *
 * Rules kept here: a request is charged only after its completion is attested, at most once;
 * a failed or cancelled one is released, never charged; an attempt the agent spoiled (error,
 * timeout, bad receipt, refused by validators for the agent's sake) goes to another agent
 * until `maxAttempts` or the deadline, unless it streamed tokens to the listeners (then the
 * request fails `STREAM_INTERRUPTED`: another agent would write other text after them); the
 * deadline never fails a request whose result is validated (its charge may already be
 * committed); terminal states stay terminal.
 *
 * @example
 * const { state, effects } = step(req, { type: "cancel" }, Date.now(), { maxAttempts: 3 });
 */
export function step(
  req: RequestRecord,
  event: RequestEvent,
  now: number,
  config: RequestConfig,
): RequestStep {
  const s = new Step(req, now);
  if (isTerminal(req.state) && event.type !== "dispatched") return s.done();
  switch (event.type) {
    case "submitted":
      if (req.state !== "received" || req.payer !== undefined) return s.done();
      s.effects.push({ type: "setAlarm", at: req.deadline }, { type: "checkPayment" });
      return s.done();
    case "paymentChecked":
      if (req.state !== "received") return s.done();
      s.set({ payer: event.payer });
      s.move("payment_checked");
      s.effects.push(dispatchOf(s.req));
      return s.done();
    case "paymentRefused":
      if (req.state !== "received") return s.done();
      return s.fail(event.error);
    case "dispatched":
      return onDispatched(s, event.task, event.attempt);
    case "noAgent": {
      if (req.task || !isLive(req.state)) return s.done();
      const last = req.lastFailure;
      return s.fail(
        last
          ? { code: last.code, message: `${last.message} (no other agent to retry on)` }
          : {
              code: "NO_AGENT_AVAILABLE",
              message: `no agent in subnet ${req.subnet} can take this request now`,
            },
      );
    }
    case "preprocessAttested":
      if (req.preprocess || req.task?.agent !== event.agent) return s.done();
      s.set({ preprocess: event.attestations });
      // An event, not a transition: the attempt stays where it is (running, or awaiting validation).
      s.notify("preprocess_validated");
      if (s.req.state === "result_signed") s.effects.push({ type: "validateCompletion" });
      return s.done();
    case "preprocessRefused":
      if (req.preprocess || req.task?.agent !== event.agent) return s.done();
      return event.agentCaused ? s.retryOrFail(event.error, config) : s.fail(event.error);
    case "resultSigned": {
      if (!isCurrentTask(req, event.taskId, event.agent) || !isLive(req.state)) return s.done();
      s.set({ result: event.result, receipt: event.receipt });
      s.move("result_signed");
      s.effects.push(nextValidation(s.req));
      return s.done();
    }
    case "resultRefused":
      if (!isCurrentTask(req, event.taskId, event.agent) || !isLive(req.state)) return s.done();
      return s.retryOrFail(
        {
          code: "SIGNATURE_INVALID",
          message: `agent ${event.agent} returned an invalid receipt: ${event.problem}`,
        },
        config,
      );
    case "taskFailed":
      if (!isCurrentTask(req, event.taskId, event.agent)) return s.done();
      if (req.state !== "dispatched" && req.state !== "reserved") return s.done();
      return s.retryOrFail(event.error, config);
    case "progress":
      if (req.task?.taskId !== event.taskId) return s.done();
      s.notify(req.state, {
        stage: event.stage,
        ...(event.progress === null ? {} : { progress: event.progress }),
      });
      return s.done();
    case "tokensReleased":
      // Stored before the first token goes out: from then on a failed attempt ends the request.
      if (req.streamed || !streamsTokens(req, event.taskId, event.agent)) return s.done();
      s.set({ streamed: true });
      return s.done();
    case "completionAttested":
      if (req.state !== "result_signed" || !req.preprocess || !req.result || !req.receipt) return s.done();
      s.set({ completion: event.attestations, completionAttesters: event.attesters });
      s.move("completion_validated");
      s.effects.push({ type: "charge" });
      return s.done();
    case "completionRefused":
      if (req.state !== "result_signed") return s.done();
      return s.fail(event.error);
    case "settled":
      if (req.state !== "completion_validated") return s.done();
      s.move("settled");
      return s.returned();
    case "settleFailed":
      if (req.state !== "completion_validated") return s.done();
      return s.fail(event.error);
    case "dispatchFailed":
      if (req.task || !isLive(req.state)) return s.done();
      return s.fail(event.error);
    case "cancel":
      if (!cancellable(req.state)) return s.done();
      return s.fail({ code: "CANCELLED", message: "cancelled by the client" }, "cancelled");
    case "alarm":
      if (now >= req.deadline) {
        // A validated result is delivered and charged even when its settlement runs past the
        // deadline: failing it then would withhold a result whose charge may be committed.
        if (req.state === "completion_validated" || req.state === "settled") return resume(s);
        return s.fail({
          code: "DEADLINE_EXCEEDED",
          message: "the request did not finish before its deadline",
        });
      }
      s.effects.push({ type: "setAlarm", at: req.deadline });
      return resume(s);
    case "resume":
      return resume(s);
  }
}

/** States in which an attempt is being set up or run. */
function isLive(state: RequestState): boolean {
  return (
    state === "payment_checked" ||
    state === "reserved" ||
    state === "dispatched" ||
    state === "preprocess_validated"
  );
}

function dispatchOf(req: RequestRecord): RequestEffect {
  const attempt = req.attempts + 1;
  return { type: "dispatch", taskId: `${req.requestId}:${attempt}`, attempt };
}

/** With a result in hand: its completion is validated once the agent's preprocessing is. */
function nextValidation(req: RequestRecord): RequestEffect {
  if (req.preprocess) return { type: "validateCompletion" };
  return { type: "validatePreprocess", agent: req.task?.agent ?? "" };
}

function onDispatched(s: Step, task: RequestRecord["task"] & object, attempt: number): RequestStep {
  const req = s.req;
  // The request ended (or got an agent) while the shell was asking: free the agent again.
  if (req.state !== "payment_checked" || req.task) {
    if (req.task?.taskId !== task.taskId) {
      s.effects.push({ type: "cancelTask", shard: task.shard, taskId: task.taskId, reason: "request ended" });
    }
    return s.done();
  }
  s.set({ task, attempts: attempt, tried: [...req.tried, task.agent] });
  s.move("reserved");
  s.move("dispatched");
  // Optimistic execution: preprocess validation runs while the agent works.
  s.effects.push({ type: "validatePreprocess", agent: task.agent });
  return s.done();
}

/** What is left to do in the stored state (after an eviction, or for a waiter). */
function resume(s: Step): RequestStep {
  const req = s.req;
  switch (req.state) {
    case "received":
      // Stored but evicted before its payment was checked: nobody claimed it, there is no
      // payer to check a signature against.
      return s.fail({
        code: "PAYMENT_REQUIRED",
        message: "the request's payment was never checked; submit it again",
      });
    case "payment_checked":
      s.effects.push(dispatchOf(req));
      return s.done();
    case "reserved":
    case "dispatched":
    case "preprocess_validated":
      if (!req.task) s.effects.push(dispatchOf(req));
      else if (!req.preprocess) s.effects.push({ type: "validatePreprocess", agent: req.task.agent });
      return s.done();
    case "result_signed":
      s.effects.push(nextValidation(req));
      return s.done();
    case "completion_validated":
      s.effects.push({ type: "charge" });
      return s.done();
    case "settled":
      return s.returned();
    default:
      return s.done();
  }
}

/** One step's working copy: the record is copied on the first change only. */
class Step {
  req: RequestRecord;
  readonly effects: RequestEffect[] = [];
  readonly #now: number;

  constructor(req: RequestRecord, now: number) {
    this.req = req;
    this.#now = now;
  }

  set(patch: Partial<RequestRecord>): void {
    this.req = { ...this.req, ...patch, updatedAt: this.#now };
  }

  move(to: RequestState): void {
    if (!canTransition(this.req.state, to)) throw new Error(`illegal transition ${this.req.state} -> ${to}`);
    this.set({ state: to });
    this.notify(to);
  }

  notify(state: RequestState, extra: Partial<ProgressEvent> = {}): void {
    const event = { ...progressEvent(this.req.requestId, state, this.#now), ...extra };
    this.set({ events: [...this.req.events, event] });
    this.effects.push({ type: "notify", event });
  }

  /** The attempt failed for the agent's sake: the next agent, or the end. */
  retryOrFail(error: RequestError, config: RequestConfig): RequestStep {
    // The listeners hold this attempt's tokens: another agent would write other text after them.
    if (this.req.streamed) {
      return this.fail({
        code: "STREAM_INTERRUPTED",
        message: `the attempt failed after its tokens were streamed (${error.code}: ${error.message}); a streaming request is not restarted on another agent`,
      });
    }
    const previous = this.req.task;
    // Validators attest a completion only from the agent they pre-attested: the next agent is
    // pre-attested anew, and the spoiled attempt's result is dropped.
    this.set({ task: undefined, preprocess: undefined, result: undefined, receipt: undefined });
    if (previous) {
      this.effects.push({
        type: "cancelTask",
        shard: previous.shard,
        taskId: previous.taskId,
        reason: "reassigned",
      });
    }
    if (this.req.attempts >= config.maxAttempts || this.#now >= this.req.deadline) {
      return this.fail({
        code: error.code,
        message: `${error.message} (after ${this.req.attempts} attempts)`,
      });
    }
    this.set({ lastFailure: error });
    this.notify(this.req.state, {
      message: `attempt ${this.req.attempts} failed: ${error.code}; retrying on another agent`,
    });
    this.set({ state: "payment_checked" });
    this.effects.push(dispatchOf(this.req));
    return this.done();
  }

  /** Ends the request unpaid: its agent is freed, its session reservation dropped. */
  fail(error: RequestError, state: "failed" | "cancelled" = "failed"): RequestStep {
    const req = this.req;
    this.set({ error });
    if (req.task) {
      this.effects.push({
        type: "cancelTask",
        shard: req.task.shard,
        taskId: req.task.taskId,
        reason: error.message,
      });
    }
    // Never charged: drop the session reservation; an escrow is left to expire or be refunded.
    if (req.payment.mode === "session") this.effects.push({ type: "release" });
    this.move(state);
    this.effects.push(
      {
        type: "fail",
        code: error.code,
        message: error.message,
        charged: false,
        retryable: RETRYABLE.has(error.code),
      },
      { type: "finish" },
    );
    return this.done();
  }

  returned(): RequestStep {
    this.move("returned");
    this.effects.push({ type: "finish" });
    return this.done();
  }

  done(): RequestStep {
    return { state: this.req, effects: this.effects };
  }
}

function progressEvent(requestId: string, state: RequestState, at: number): ProgressEvent {
  return { requestId: requestId as ProgressEvent["requestId"], state, at };
}

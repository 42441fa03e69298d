import type {
  AttestationSig,
  ErrorCode,
  ModelDescriptor,
  Payment,
  ProgressEvent,
  RequestState,
  SignedReceipt,
  TaskInput,
  TaskPricing,
  TaskResult,
} from "@ncn/protocol";

/** What the worker hands a new request. */
export interface SubmitInput {
  requestId: string;
  subnet: string;
  input: TaskInput;
  payment: Payment;
  /** What the request is authorised to cost: its price, or with `pricing` its maximum (`requestMaximum`). */
  price: string;
  /** The model's per-token prices, when they apply: the charge is then the result's usage (`taskCharge`). */
  pricing?: TaskPricing | undefined;
  descriptor: ModelDescriptor;
  pipeline: ModelDescriptor[];
  timeoutMs: number;
  /**
   * A `generate` request whose tokens go to its listeners as the agent produces them: once
   * any did, a failed attempt fails the request instead of starting over elsewhere.
   */
  stream?: boolean;
}

/** The attempt now running: which agent, on which Subnet shard, until when. */
export interface RequestTask {
  taskId: string;
  shard: number;
  agent: string;
  deadline: number;
}

/** A typed failure as the request keeps it. */
export interface RequestError {
  code: ErrorCode;
  message: string;
}

/** One request as it is stored: every field the lifecycle rules read. */
export interface RequestRecord extends SubmitInput {
  /** Who paid (session client or escrow client), lowercased: the only one who may read or cancel. */
  payer: string | undefined;
  state: RequestState;
  createdAt: number;
  updatedAt: number;
  deadline: number;
  inputHash: `0x${string}`;
  attempts: number;
  tried: string[];
  task: RequestTask | undefined;
  preprocess: AttestationSig[] | undefined;
  result: TaskResult | undefined;
  receipt: SignedReceipt | undefined;
  completion: AttestationSig[] | undefined;
  /** Validators (URLs) whose completion attestations are in `completion`. */
  completionAttesters?: string[] | undefined;
  error: RequestError | undefined;
  /** Why the previous attempt failed: the reason reported if no agent is left to retry on. */
  lastFailure: RequestError | undefined;
  events: ProgressEvent[];
  /** Tokens of the current attempt reached the listeners (a streaming request only). */
  streamed?: boolean;
}

/** The part of the gateway's config the rules read. */
export interface RequestConfig {
  /** Agents tried at most (one attempt each). */
  maxAttempts: number;
}

/**
 * What happens to a request: answers of the effects the shell carried out, the agent's
 * frames, the client's cancel and the alarm. An answer that no longer fits the state (an
 * attempt since replaced, a request already ended) changes nothing.
 */
export type RequestEvent =
  /** The record was just created: arm the deadline and check the payment. */
  | { type: "submitted" }
  | { type: "paymentChecked"; payer: string }
  | { type: "paymentRefused"; error: RequestError }
  | { type: "dispatched"; task: RequestTask; attempt: number }
  /** No agent took the request before the shell stopped asking. */
  | { type: "noAgent" }
  | { type: "preprocessAttested"; agent: string; attestations: AttestationSig[] }
  /** `agentCaused`: the validators refused the agent, not the request; another agent may serve it. */
  | { type: "preprocessRefused"; agent: string; error: RequestError; agentCaused: boolean }
  | { type: "resultSigned"; taskId: string; agent: string; result: TaskResult; receipt: SignedReceipt }
  /** The agent's receipt does not match the request or is not its signature. */
  | { type: "resultRefused"; taskId: string; agent: string; problem: string }
  /** The agent reported an error, disconnected or missed the task's deadline. */
  | { type: "taskFailed"; taskId: string; agent: string; error: RequestError }
  | { type: "progress"; taskId: string; stage: string; progress: number | null }
  /** Tokens of the attempt `taskId` on `agent` are about to reach the listeners. */
  | { type: "tokensReleased"; taskId: string; agent: string }
  | { type: "completionAttested"; attestations: AttestationSig[]; attesters: string[] }
  | { type: "completionRefused"; error: RequestError }
  /** The charge (session commit or escrow completion) is recorded. */
  | { type: "settled" }
  | { type: "settleFailed"; error: RequestError }
  /** Dispatch could not start (a validator quorum known to be lost, say). */
  | { type: "dispatchFailed"; error: RequestError }
  | { type: "cancel" }
  /** The stored alarm fired (at the deadline, or earlier after an eviction). */
  | { type: "alarm" }
  /** The object woke with this state (a waiter, an eviction): pick up where it was. */
  | { type: "resume" };

/** What the shell does after a step, in order. */
export type RequestEffect =
  | { type: "checkPayment" }
  /** Reserve an agent on some shard and send it the task `taskId`, waiting a little for one to free up. */
  | { type: "dispatch"; taskId: string; attempt: number }
  | { type: "validatePreprocess"; agent: string }
  | { type: "validateCompletion" }
  /** Record the charge: commit to the session, or complete the escrow. */
  | { type: "charge" }
  /** Drop the session's reservation for a request that will not be charged. */
  | { type: "release" }
  | { type: "cancelTask"; shard: number; taskId: string; reason: string }
  /** The request failed: it is never charged; `retryable` says whether sending it again may succeed. */
  | { type: "fail"; code: ErrorCode; message: string; charged: false; retryable: boolean }
  | { type: "notify"; event: ProgressEvent }
  /** The request is terminal: send the final answer to every listener and wake the waiters. */
  | { type: "finish" }
  | { type: "setAlarm"; at: number };

export interface RequestStep {
  state: RequestRecord;
  effects: RequestEffect[];
}

import * as v from "valibot";
import { ErrorCodeSchema } from "./errors.ts";
import { ModelDescriptor } from "./model.ts";
import { Bytes32, ModelId, RequestId, Signature, SubnetId, UintString } from "./primitives.ts";
import { AttestationSig, SignedReceipt } from "./receipt.ts";
import { EmbedResult, EmbedTaskInput } from "./tasks/embed.ts";
import { GeneratePrompt, GenerateResult, SamplingParams, TokenDelta } from "./tasks/generate.ts";
import { TranscribeResult, TranscribeTaskInput } from "./tasks/transcribe.ts";
import { TensorInputMapJson, TensorMapJson } from "./tensor.ts";

/** Lifecycle of a request, as ARCHITECTURE.md draws it. */
export const REQUEST_STATES = [
  "received",
  "payment_checked",
  "preprocess_validated",
  "reserved",
  "dispatched",
  "result_signed",
  "completion_validated",
  "settled",
  "returned",
  "failed",
  "cancelled",
] as const;
export const RequestState = v.picklist(REQUEST_STATES);
export type RequestState = v.InferOutput<typeof RequestState>;

export const TERMINAL_STATES: ReadonlySet<RequestState> = new Set(["returned", "failed", "cancelled"]);

/** A voucher: the client's signature over the cumulative amount spent in a session. */
export const SessionPayment = v.object({
  mode: v.literal("session"),
  sessionId: Bytes32,
  cumulativeAmount: UintString,
  signature: Signature,
});
export type SessionPayment = v.InferOutput<typeof SessionPayment>;
/** Per-request escrow already opened on chain under this request's id. */
export const EscrowPayment = v.object({
  mode: v.literal("escrow"),
});
export const Payment = v.variant(
  "mode",
  [SessionPayment, EscrowPayment],
  "payment.mode must be 'session' or 'escrow'",
);
export type Payment = v.InferOutput<typeof Payment>;

const Common = {
  /** Client-chosen id; the same id twice returns the same request (idempotency). */
  requestId: v.optional(RequestId),
  subnet: SubnetId,
  payment: v.optional(Payment),
  /** Longest the client will wait, in ms (capped by the gateway). */
  timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600_000))),
};

/** Generic tensor inference on a registered ONNX model. */
export const TensorTaskInput = v.object({
  kind: v.literal("tensor"),
  model: ModelId,
  inputs: TensorMapJson,
});
/** OCR: an image (PNG or JPEG, base64) in, lines of text out. */
export const OcrTaskInput = v.object({
  kind: v.literal("ocr"),
  model: ModelId,
  image: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, "image must be base64"), v.minLength(8)),
});
/** Text generation: a prompt or chat messages in, tokens and text out. */
export const GenerateTaskInput = v.object({
  kind: v.literal("generate"),
  model: ModelId,
  prompt: GeneratePrompt,
  sampling: SamplingParams,
});
export const TaskInput = v.variant("kind", [
  TensorTaskInput,
  OcrTaskInput,
  EmbedTaskInput,
  GenerateTaskInput,
  TranscribeTaskInput,
]);
export type TaskInput = v.InferOutput<typeof TaskInput>;

export const InferenceRequest = v.object({
  ...Common,
  model: ModelId,
  /** Each tensor as base64 `data` or as `values`; parsed to the base64 form. */
  inputs: TensorInputMapJson,
});
export type InferenceRequest = v.InferOutput<typeof InferenceRequest>;

export const OcrRequest = v.object({
  ...Common,
  model: v.optional(ModelId),
  image: v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, "image must be base64"), v.minLength(8)),
});
export type OcrRequest = v.InferOutput<typeof OcrRequest>;

/** Text generation: `POST /v1/generate` (a prompt or chat messages, sampling parameters). */
export const GenerateRequest = v.object({
  ...Common,
  model: ModelId,
  prompt: GeneratePrompt,
  sampling: SamplingParams,
  /**
   * Stream the tokens as they are generated: the answer is the request's event stream
   * (`token` events, then `final`) instead of the finished response.
   */
  stream: v.optional(v.boolean()),
});
export type GenerateRequest = v.InferOutput<typeof GenerateRequest>;

/** Embeddings: `POST /v1/embed` (texts in, one vector each out). */
export const EmbedRequest = v.object({
  ...Common,
  model: ModelId,
  texts: EmbedTaskInput.entries.texts,
});
export type EmbedRequest = v.InferOutput<typeof EmbedRequest>;

export const OcrLine = v.object({
  text: v.string(),
  score: v.number(),
  /** Four corners (x, y) of the text box in image pixels, clockwise from top-left. */
  box: v.tuple([
    v.tuple([v.number(), v.number()]),
    v.tuple([v.number(), v.number()]),
    v.tuple([v.number(), v.number()]),
    v.tuple([v.number(), v.number()]),
  ]),
});
export type OcrLine = v.InferOutput<typeof OcrLine>;

export const TensorResult = v.object({ kind: v.literal("tensor"), outputs: TensorMapJson });
export type TensorResult = v.InferOutput<typeof TensorResult>;
export const OcrResult = v.object({ kind: v.literal("ocr"), lines: v.array(OcrLine) });
export const TaskResult = v.variant("kind", [
  TensorResult,
  OcrResult,
  EmbedResult,
  GenerateResult,
  TranscribeResult,
]);
export type TaskResult = v.InferOutput<typeof TaskResult>;

export const RequestError = v.object({ code: ErrorCodeSchema, message: v.string() });

/** What `GET /v1/inference/:id` returns and what a finished submit answers. */
export const InferenceResponse = v.object({
  requestId: RequestId,
  state: RequestState,
  subnet: SubnetId,
  model: ModelId,
  /** What the request is charged once returned (its receipt's price); before that, the most it may cost. */
  price: UintString,
  /** For a model priced per token: the most the request was authorised to cost (`requestMaximum`). */
  maxPrice: v.optional(UintString),
  createdAt: v.number(),
  updatedAt: v.number(),
  agent: v.optional(v.string()),
  result: v.optional(TaskResult),
  receipt: v.optional(SignedReceipt),
  attestations: v.optional(v.array(AttestationSig)),
  error: v.optional(RequestError),
});
export type InferenceResponse = v.InferOutput<typeof InferenceResponse>;

/** A progress event, over SSE or WebSocket. */
export const ProgressEvent = v.object({
  requestId: RequestId,
  state: RequestState,
  at: v.number(),
  stage: v.optional(v.string()),
  progress: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
  message: v.optional(v.string()),
});
export type ProgressEvent = v.InferOutput<typeof ProgressEvent>;

/**
 * A `token` event (SSE `event: token`; `{"type":"token",...}` on the WebSocket): text a
 * streaming `generate` request's agent produced, before validation. Indexes start at 0 and
 * follow each other without gaps; the texts joined are the final result's `text` once the
 * request is `returned`. Only the final event's result is validated, receipted and charged.
 */
export const TokenEvent = v.object({ requestId: RequestId, ...TokenDelta.entries });
export type TokenEvent = v.InferOutput<typeof TokenEvent>;

/** A model as a subnet prices it. */
export const PricedModel = v.object({ model: ModelDescriptor, price: UintString });

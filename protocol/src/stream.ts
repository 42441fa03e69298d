import * as v from "valibot";
import { ErrorCodeSchema } from "./errors.ts";
import { TensorResult, TensorTaskInput } from "./inference.ts";
import { Bytes32, ModelId, RequestId, Signature, SubnetId, UintString } from "./primitives.ts";
import { AttestationSig, ReceiptJson } from "./receipt.ts";
import { AgentReceiptBatch } from "./validation.ts";

/**
 * The session stream (`GET /v1/sessions/:sessionId/stream?subnet=...`, WebSocket): the
 * high-throughput, low-latency way to buy inference with a prepaid session. One socket
 * carries many requests at once; the gateway opens with a fresh challenge that the session's
 * client signs (`StreamAuth`), which binds the socket to the client; the client then
 * authorises spending with vouchers sent on the same socket; the
 * gateway returns each result once M-of-N validators have attested it, with everything
 * needed to verify it offline; and after each validated batch it reports the session's
 * charged total, which the client acknowledges with a voucher of exactly that amount (the
 * voucher settlement uses).
 */
export const STREAM_PROTOCOL_VERSION = 2;
/** Requests one stream may have in flight at once. */
export const STREAM_MAX_IN_FLIGHT = 1024;

/** Client -> gateway, first: the EIP-712 `StreamAuth` {sessionId, nonce} signed by the session's client. */
export const StreamAuthFrame = v.object({
  type: v.literal("auth"),
  signature: Signature,
});

/** Client -> gateway: a cumulative voucher (EIP-712 `Voucher`), authorising up to `amount`. */
export const StreamVoucherFrame = v.object({
  type: v.literal("voucher"),
  amount: UintString,
  signature: Signature,
});

/** Client -> gateway: run a tensor model. `id` is the client's own tag, echoed back. */
export const StreamInferFrame = v.object({
  type: v.literal("infer"),
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:-]{1,64}$/, "id is 1-64 chars of [A-Za-z0-9_.:-]")),
  model: ModelId,
  inputs: TensorTaskInput.entries.inputs,
  timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600_000))),
});
export type StreamInferFrame = v.InferOutput<typeof StreamInferFrame>;

/** Client -> gateway: several requests in one message (what the client had ready at once). */
export const StreamInferManyFrame = v.object({
  type: v.literal("many"),
  frames: v.pipe(v.array(StreamInferFrame), v.minLength(1), v.maxLength(STREAM_MAX_IN_FLIGHT)),
});

export const StreamClientFrame = v.variant("type", [
  StreamAuthFrame,
  StreamVoucherFrame,
  StreamInferFrame,
  StreamInferManyFrame,
]);
export type StreamClientFrame = v.InferOutput<typeof StreamClientFrame>;

/** Gateway -> client, as soon as the socket opens: sign `StreamAuth` {sessionId, nonce} and answer with `auth`. */
export const StreamChallengeFrame = v.object({
  type: v.literal("challenge"),
  v: v.literal(STREAM_PROTOCOL_VERSION),
  nonce: Bytes32,
});

/** Gateway -> client, once the challenge was answered by the session's client. */
export const StreamReadyFrame = v.object({
  type: v.literal("ready"),
  v: v.literal(STREAM_PROTOCOL_VERSION),
  sessionId: Bytes32,
  subnet: SubnetId,
  /** Highest voucher amount seen, and what validated requests have charged so far. */
  authorised: UintString,
  charged: UintString,
  maxInFlight: v.number(),
});

/** Proof that M-of-N validators attested a batch of receipts this result belongs to. */
export const ValidationProof = v.object({
  receiptsRoot: Bytes32,
  proof: v.array(Bytes32),
  /** Completion attestations {requestId: root, phase 1, subject: root, outputHash: 0}. */
  attestations: v.array(AttestationSig),
});
export type ValidationProof = v.InferOutput<typeof ValidationProof>;

/** Proof that the agent signed the receipt, as one of a batch. */
export const AgentBatchProof = v.object({
  batch: AgentReceiptBatch,
  proof: v.array(Bytes32),
});
export type AgentBatchProof = v.InferOutput<typeof AgentBatchProof>;

/** Gateway -> client: a validated result. */
export const StreamResultFrame = v.object({
  type: v.literal("result"),
  id: StreamInferFrame.entries.id,
  requestId: RequestId,
  price: UintString,
  result: TensorResult,
  receipt: ReceiptJson,
  agentBatch: AgentBatchProof,
  validation: ValidationProof,
});
export type StreamResultFrame = v.InferOutput<typeof StreamResultFrame>;

/** One result of a `results` frame: its own proofs; the attestations are the frame's. */
export const StreamBatchedResult = v.object({
  id: StreamInferFrame.entries.id,
  requestId: RequestId,
  price: UintString,
  result: TensorResult,
  receipt: ReceiptJson,
  agentBatch: AgentBatchProof,
  /** Proof of the receipt's digest under `receiptsRoot`. */
  proof: v.array(Bytes32),
});

/**
 * Gateway -> client: the results of one validated batch together (one message, the
 * validators' attestations once). Each item with the frame's root and attestations is a
 * complete `StreamResultFrame`.
 */
export const StreamResultsFrame = v.object({
  type: v.literal("results"),
  receiptsRoot: Bytes32,
  attestations: v.array(AttestationSig),
  results: v.pipe(v.array(StreamBatchedResult), v.minLength(1)),
});
export type StreamResultsFrame = v.InferOutput<typeof StreamResultsFrame>;

/** Gateway -> client: the session's charged total after a validated batch; answer with a voucher of exactly `total`. */
export const StreamChargedFrame = v.object({
  type: v.literal("charged"),
  total: UintString,
  requests: v.number(),
});

/** Gateway -> client: a failed request (`id`; never charged) or a problem with the stream itself. */
export const StreamErrorFrame = v.object({
  type: v.literal("error"),
  id: v.optional(StreamInferFrame.entries.id),
  code: ErrorCodeSchema,
  message: v.string(),
  details: v.optional(v.unknown()),
});
export type StreamErrorFrame = v.InferOutput<typeof StreamErrorFrame>;

export const StreamServerFrame = v.variant("type", [
  StreamChallengeFrame,
  StreamReadyFrame,
  StreamResultFrame,
  StreamResultsFrame,
  StreamChargedFrame,
  StreamErrorFrame,
]);
export type StreamServerFrame = v.InferOutput<typeof StreamServerFrame>;

import * as v from "valibot";
import { ErrorCodeSchema } from "./errors.ts";
import { GenerateTaskInput, OcrTaskInput, TaskResult, TensorTaskInput } from "./inference.ts";
import { ModelDescriptor, ModelRuntime } from "./model.ts";
import { TaskPricing } from "./pricing.ts";
import { Address, Bytes32, Hex, RequestId, Sha256, Signature, SubnetId, UintString } from "./primitives.ts";
import { ReceiptJson, SignedReceipt } from "./receipt.ts";
import { EmbedTexts } from "./tasks/embed.ts";
import { TokenDeltas } from "./tasks/generate.ts";
import { TranscribeTaskInput } from "./tasks/transcribe.ts";

/** Version of the gateway<->agent protocol; bumped on incompatible frame changes. */
export const AGENT_PROTOCOL_VERSION = 1;
/** Largest text frame either side accepts (bytes). */
export const MAX_FRAME_BYTES = 32 * 1024 * 1024;
/**
 * Largest hello frame (bytes). It arrives before the agent is authenticated, so a gateway
 * reads no more than this from a socket that has not proved its key.
 */
export const MAX_HELLO_BYTES = 64 * 1024;
/**
 * Bounds on what an agent says about itself: the gateway stores it per agent, so each field
 * an agent supplies has a length or count limit.
 */
export const AGENT_LIMITS = {
  /** Models listed as cached in a hello or heartbeat (an agent lists its most recent ones). */
  cachedModels: 256,
  /** Characters of the agent's version string. */
  version: 64,
  /** Characters of a GPU name. */
  gpuName: 128,
  /** Runtimes an agent may list. */
  runtimes: 8,
  /** Task ids offered again after a reconnect. */
  pending: 1024,
} as const;

export const Capabilities = v.object({
  cores: v.pipe(v.number(), v.integer(), v.minValue(1)),
  memoryMb: v.pipe(v.number(), v.integer(), v.minValue(1)),
  gpu: v.nullable(
    v.object({ name: v.pipe(v.string(), v.maxLength(AGENT_LIMITS.gpuName)), cuda: v.boolean() }),
  ),
  runtimes: v.pipe(v.array(ModelRuntime), v.maxLength(AGENT_LIMITS.runtimes)),
  cachedModels: v.pipe(v.array(Sha256), v.maxLength(AGENT_LIMITS.cachedModels)),
  maxConcurrency: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)),
  version: v.pipe(v.string(), v.minLength(1), v.maxLength(AGENT_LIMITS.version)),
});
export type Capabilities = v.InferOutput<typeof Capabilities>;

export const Load = v.object({
  running: v.pipe(v.number(), v.integer(), v.minValue(0)),
  queued: v.pipe(v.number(), v.integer(), v.minValue(0)),
  cpu: v.optional(v.pipe(v.number(), v.minValue(0))),
  memoryFreeMb: v.optional(v.pipe(v.number(), v.minValue(0))),
});
export type Load = v.InferOutput<typeof Load>;

/** A gateway's name for one attempt of a task, echoed in every frame about it. */
export const TaskId = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_:.-]{1,128}$/, "taskId is 1-128 chars of [A-Za-z0-9_:.-]"),
);

// ---- gateway -> agent -----------------------------------------------------------

/** First frame on a new connection: the agent must sign `nonce` to prove its key. */
export const ChallengeFrame = v.object({
  type: v.literal("challenge"),
  v: v.literal(AGENT_PROTOCOL_VERSION),
  nonce: Bytes32,
  gateway: v.string(),
  chainId: v.pipe(v.number(), v.integer(), v.minValue(1)),
  verifyingContract: Address,
  serverTime: v.number(),
});

export const WelcomeFrame = v.object({
  type: v.literal("welcome"),
  agent: Address,
  heartbeatMs: v.pipe(v.number(), v.integer(), v.minValue(100)),
  /** Registry/validator HTTP URLs where the agent publishes its signed record and heartbeats. */
  registries: v.optional(v.pipe(v.array(v.pipe(v.string(), v.url())), v.maxLength(32))),
});

const TaskCommon = {
  type: v.literal("task"),
  taskId: TaskId,
  requestId: RequestId,
  subnet: SubnetId,
  model: ModelDescriptor,
  /** What the request is authorised to cost at most (with `pricing`), or its price. */
  price: UintString,
  /**
   * Present when the model is priced per token: the receipt's price is then the charge of
   * the result's usage (`usageCharge` with `price` as the maximum), not `price`.
   */
  pricing: v.optional(TaskPricing),
  /** Unix ms by which the result must reach the gateway. */
  deadline: v.number(),
  /**
   * "batch": the agent signs no receipt of its own for this task but returns it in a
   * `results` frame, under one `ReceiptBatch` signature over many receipts (stream mode).
   */
  receipts: v.optional(v.picklist(["each", "batch"])),
};
export const TaskFrame = v.variant("kind", [
  v.object({ ...TaskCommon, kind: v.literal("tensor"), inputs: TensorTaskInput.entries.inputs }),
  // An OCR task names its pipeline model; `pipeline` carries the stage models (det, cls, rec).
  v.object({
    ...TaskCommon,
    kind: v.literal("ocr"),
    image: OcrTaskInput.entries.image,
    pipeline: v.pipe(v.array(ModelDescriptor), v.maxLength(8)),
  }),
  // An embedding task names the model's manifest; `pipeline` carries its parts (encoder,
  // tokenizer) when they are not built into the agent.
  v.object({
    ...TaskCommon,
    kind: v.literal("embed"),
    texts: EmbedTexts,
    pipeline: v.pipe(v.array(ModelDescriptor), v.maxLength(8)),
  }),
  v.object({
    ...TaskCommon,
    kind: v.literal("generate"),
    prompt: GenerateTaskInput.entries.prompt,
    sampling: GenerateTaskInput.entries.sampling,
    /** Send the tokens as they are generated (`tokens` frames), not only the result. */
    stream: v.optional(v.boolean()),
  }),
  // A transcribe task names the model's manifest; its parts are fetched by the hashes it lists.
  v.object({
    ...TaskCommon,
    kind: v.literal("transcribe"),
    audio: TranscribeTaskInput.entries.audio,
    language: TranscribeTaskInput.entries.language,
    prompt: TranscribeTaskInput.entries.prompt,
  }),
]);
export type TaskFrame = v.InferOutput<typeof TaskFrame>;

/** Several tasks in one message (what the gateway dispatched to this agent at once). */
export const TasksFrame = v.object({
  type: v.literal("tasks"),
  tasks: v.pipe(v.array(TaskFrame), v.minLength(1), v.maxLength(1024)),
});

export const CancelFrame = v.object({ type: v.literal("cancel"), taskId: TaskId, reason: v.string() });
/** The gateway has stored a result: the agent may drop it from its outbox. */
export const AckFrame = v.object({ type: v.literal("ack"), taskId: TaskId });
/** The gateway has taken a whole `results` frame (named by its root). */
export const AckBatchFrame = v.object({ type: v.literal("acks"), receiptsRoot: Bytes32 });

// ---- agent -> gateway -----------------------------------------------------------

export const HelloFrame = v.object({
  type: v.literal("hello"),
  v: v.literal(AGENT_PROTOCOL_VERSION),
  agent: Address,
  nonce: Bytes32,
  /** EIP-191 signature of `authMessage(nonce, gateway)`. */
  signature: Signature,
  subnets: v.pipe(v.array(SubnetId), v.minLength(1), v.maxLength(64)),
  capabilities: Capabilities,
  /** Results finished while disconnected, offered again after reconnect. */
  pending: v.optional(v.pipe(v.array(TaskId), v.maxLength(AGENT_LIMITS.pending))),
});

export const HeartbeatFrame = v.object({
  type: v.literal("heartbeat"),
  load: Load,
  cachedModels: v.optional(v.pipe(v.array(Sha256), v.maxLength(AGENT_LIMITS.cachedModels))),
});

export const ProgressFrame = v.object({
  type: v.literal("progress"),
  taskId: TaskId,
  stage: v.pipe(v.string(), v.maxLength(64)),
  progress: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
});

/**
 * Tokens of a running `generate` task sent with `stream: true`, in order, a few at a time.
 * They are a preview: the gateway passes them on to the client, but what it validates,
 * charges and receipts is the result frame.
 */
export const TokensFrame = v.object({
  type: v.literal("tokens"),
  taskId: TaskId,
  requestId: RequestId,
  deltas: TokenDeltas,
});
export type TokensFrame = v.InferOutput<typeof TokensFrame>;

export const ResultFrame = v.object({
  type: v.literal("result"),
  taskId: TaskId,
  result: TaskResult,
  receipt: SignedReceipt,
  /** Milliseconds the agent spent on the task (queue excluded). */
  computeMs: v.number(),
});
export type ResultFrame = v.InferOutput<typeof ResultFrame>;

/** One result inside a `results` frame: its receipt is covered by the frame's batch signature. */
export const BatchedResult = v.object({
  taskId: TaskId,
  result: TaskResult,
  receipt: ReceiptJson,
  computeMs: v.number(),
});
export type BatchedResult = v.InferOutput<typeof BatchedResult>;

/**
 * Results of tasks sent with `receipts: "batch"`: one EIP-712 `ReceiptBatch` signature
 * by the agent over the Merkle root (OpenZeppelin sorted pairs) of the receipts' digests.
 */
export const ResultBatchFrame = v.object({
  type: v.literal("results"),
  receiptsRoot: Bytes32,
  signature: Signature,
  items: v.pipe(v.array(BatchedResult), v.minLength(1), v.maxLength(1024)),
});
export type ResultBatchFrame = v.InferOutput<typeof ResultBatchFrame>;

/** Either side: a typed failure, of a task (`taskId`) or of the link itself. */
export const ErrorFrame = v.object({
  type: v.literal("error"),
  taskId: v.optional(TaskId),
  code: ErrorCodeSchema,
  message: v.pipe(v.string(), v.maxLength(2000)),
});

export const GatewayToAgentFrame = v.variant("type", [
  ChallengeFrame,
  WelcomeFrame,
  TaskFrame,
  TasksFrame,
  CancelFrame,
  AckFrame,
  AckBatchFrame,
  ErrorFrame,
]);
export type GatewayToAgentFrame = v.InferOutput<typeof GatewayToAgentFrame>;

export const AgentToGatewayFrame = v.variant("type", [
  HelloFrame,
  HeartbeatFrame,
  ProgressFrame,
  TokensFrame,
  ResultFrame,
  ResultBatchFrame,
  ErrorFrame,
]);
export type AgentToGatewayFrame = v.InferOutput<typeof AgentToGatewayFrame>;

/** Every frame of the link, in either direction. */
export const AgentLinkFrame = v.variant("type", [
  ChallengeFrame,
  WelcomeFrame,
  TaskFrame,
  TasksFrame,
  CancelFrame,
  AckFrame,
  AckBatchFrame,
  HelloFrame,
  HeartbeatFrame,
  ProgressFrame,
  TokensFrame,
  ResultFrame,
  ResultBatchFrame,
  ErrorFrame,
]);
export type AgentLinkFrame = v.InferOutput<typeof AgentLinkFrame>;

/** The text an agent signs (EIP-191) to answer a challenge; binds the gateway and nonce. */
export function authMessage(nonce: string, gateway: string): string {
  return `NCN agent authentication\ngateway: ${gateway}\nnonce: ${nonce}`;
}

export const Nonce = Hex;

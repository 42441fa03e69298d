/**
 * The compute agent as a library. The command-line entry is `main.ts`; the ONNX
 * runtime alone is `@ncn/agent/onnx`, test helpers are `@ncn/agent/testing`.
 */

export { ensurePrivateEmptyDir, enterPrivateWorkDir, PrivateDirError } from "@ncn/protocol/private-dir";
export { Agent, type AgentOptions, dataPaths } from "./agent.ts";
export { type AgentConfig, loadConfig, type RawSettings, SETTINGS } from "./config/config.ts";
export { type DoctorCheck, type DoctorReport, formatDoctor, runDoctor } from "./doctor/doctor.ts";
export { AgentError, ConfigError, describeError, ModelSourceError } from "./errors.ts";
export { type ExecuteOptions, TaskExecutor, type TaskOutcome, type TaskWork } from "./executor.ts";
export { type Identity, loadIdentity, peekIdentity } from "./identity/identity.ts";
export { backoffDelay } from "./link/backoff.ts";
export { GatewayLink, type LinkHandlers } from "./link/gateway-link.ts";
export { Outbox, type OutboxBatchEntry, type OutboxEntry } from "./link/outbox.ts";
export { type BatchItem, ReceiptBatcher, type ReceiptBatcherOptions } from "./link/receipt-batcher.ts";
export { TaskRunner } from "./link/task-runner.ts";
export { createLogger, type Logger, type LogLevel, silentLogger } from "./log/logger.ts";
export * from "./ocr/builtin-models.ts";
export { manifestBytes, type OcrModels, OcrPipelineManifest, parseManifest } from "./ocr/manifest.ts";
export { DEFAULT_OCR_PARAMS, type OcrParams, OcrPipeline, type OcrRun } from "./ocr/pipeline.ts";
export { resolveOcrModels } from "./ocr/resolve-models.ts";
export {
  receiptBatchDigest,
  receiptsRoot,
  type SignedReceiptBatch,
  signReceiptBatch,
} from "./receipt/receipt-batch.ts";
export { buildReceipt, type ReceiptFields, signReceipt } from "./receipt/sign-receipt.ts";
export { DEFAULT_MAX_MODEL_BYTES, ModelStore, type ModelStoreOptions } from "./store/model-store.ts";
export { createProgressReporter, type DownloadProgress } from "./store/progress.ts";
export {
  checkSource,
  SOURCE_RULES,
  type SourcePolicy,
  type SourceRule,
  STRICT_SOURCE_POLICY,
} from "./store/source-policy.ts";
export { AGENT_VERSION } from "./version.ts";

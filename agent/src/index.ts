/**
 * The compute agent as a library. The command-line entry is `main.ts`; what the agent
 * runs models with (model store, ONNX runtime, OCR, executor) is `@ncn/runtime`, shared
 * with validators; agent test helpers are `@ncn/agent/testing`.
 */

export { ensurePrivateEmptyDir, enterPrivateWorkDir, PrivateDirError } from "@ncn/protocol/private-dir";
export { Agent, type AgentOptions, dataPaths } from "./agent.ts";
export { type AgentConfig, loadConfig, type RawSettings, SETTINGS } from "./config/config.ts";
export { type DoctorCheck, type DoctorReport, formatDoctor, runDoctor } from "./doctor/doctor.ts";
export { AgentError, ConfigError, describeError } from "./errors.ts";
export { type Identity, loadIdentity, peekIdentity } from "./identity/identity.ts";
export { backoffDelay } from "./link/backoff.ts";
export { GatewayLink, type LinkHandlers } from "./link/gateway-link.ts";
export { Outbox, type OutboxBatchEntry, type OutboxEntry } from "./link/outbox.ts";
export { type BatchItem, ReceiptBatcher, type ReceiptBatcherOptions } from "./link/receipt-batcher.ts";
export { TaskRunner } from "./link/task-runner.ts";
export {
  receiptBatchDigest,
  receiptsRoot,
  type SignedReceiptBatch,
  signReceiptBatch,
} from "./receipt/receipt-batch.ts";
export { buildReceipt, type ReceiptFields, signReceipt } from "./receipt/sign-receipt.ts";
export { AGENT_VERSION } from "./version.ts";

/**
 * What agents and validators share to run models: the model store (content-addressed,
 * fetched under a source policy), the ONNX runtime (also `@ncn/runtime/onnx` alone), the
 * OCR pipeline, the text-embedding runtime, and the task executor that dispatches each task to the `Runtime` serving
 * it. Test helpers (real tiny models) are `@ncn/runtime/testing`.
 */

export * from "./builtin-models.ts";
export { embeddedAssets, isCompiled, registerEmbeddedAssets } from "./embedded.ts";
export { describeError, ModelSourceError, RuntimeError } from "./errors.ts";
export { type ExecuteOptions, TaskExecutor, type TaskExecutorOptions, type TaskOutcome } from "./executor.ts";
export { manifestBytes, type OcrModels, OcrPipelineManifest, parseManifest } from "./ocr/manifest.ts";
export { OcrRuntime, type OcrRuntimeOptions } from "./ocr/ocr-runtime.ts";
export { DEFAULT_OCR_PARAMS, type OcrParams, OcrPipeline, type OcrRun } from "./ocr/pipeline.ts";
export { resolveOcrModels } from "./ocr/resolve-models.ts";
export { loadSharp } from "./ocr/sharp.ts";
export {
  EXECUTABLE_RUNTIMES,
  type ExecutableRuntime,
  isExecutableRuntime,
  type Runtime,
  type RuntimeContext,
  type RuntimeRun,
  servedTask,
  type TaskKind,
  type TaskWork,
  type TaskWorkOf,
  throwIfCancelled,
} from "./runtime.ts";
export { OnnxTensorRuntime, type OnnxTensorRuntimeOptions } from "./runtimes/onnx/tensor-runtime.ts";
export {
  MAX_TEXT_EMBEDDING_MANIFEST_BYTES,
  parseTextEmbeddingManifest,
  partsOfManifest,
  TEXT_EMBEDDING_FORMAT,
  TextEmbeddingManifest,
  type TextEmbeddingParts,
  textEmbeddingManifestBytes,
} from "./runtimes/text-embedding/manifest.ts";
export { l2Normalize, meanPool } from "./runtimes/text-embedding/pooling.ts";
export {
  type Embedded,
  TextEmbeddingRuntime,
  type TextEmbeddingRuntimeOptions,
} from "./runtimes/text-embedding/text-embedding-runtime.ts";
export { loadTokenizer, type TextTokenizer } from "./runtimes/text-embedding/tokenizer.ts";
export {
  DEFAULT_MIN_COSINE,
  type EmbeddingVerdict,
  type VerifyEmbeddingsOptions,
  verifyEmbeddings,
} from "./runtimes/text-embedding/verify-embeddings.ts";
export { parseIpLiteral } from "./store/ip-address.ts";
export { DEFAULT_MAX_MODEL_BYTES, ModelStore, type ModelStoreOptions } from "./store/model-store.ts";
export { parseNpmSource, resolveNpmSource } from "./store/npm-source.ts";
export { createProgressReporter, type DownloadProgress, type ProgressListener } from "./store/progress.ts";
export {
  checkSource,
  SOURCE_RULES,
  type SourcePolicy,
  type SourceRule,
  STRICT_SOURCE_POLICY,
} from "./store/source-policy.ts";
export { type GpuProbe, probeGpu } from "./system/gpu.ts";
export { cpuLoad, type MachineInfo, machineInfo } from "./system/machine.ts";
export { defaultModelMemoryBytes } from "./system/memory-limit.ts";
export { setNativeLibDir } from "./system/native-libs.ts";
export { decodeTensorJson, encodeTensorJson } from "./tensor-codec.ts";

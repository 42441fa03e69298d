/**
 * The ONNX runtime, importable on its own (`@ncn/runtime/onnx`) by anything that runs or
 * compares a model's outputs, such as a validator spot-checking a result.
 */

export { defaultModelMemoryBytes } from "../../system/memory-limit.ts";
export { type CompareResult, type Tolerance, tensorsClose } from "./compare.ts";
export { describeModel } from "./describe-model.ts";
export {
  chooseExecutionProvider,
  type ExecutionProvider,
  type ExecutionProviderChoice,
  type ExecutionProviderPreference,
} from "./execution-provider.ts";
export {
  assertSelfContained,
  type ExternalTensor,
  findExternalData,
  MalformedModelError,
} from "./external-data.ts";
export {
  type GraphOptimization,
  type ModelBytesLoader,
  OnnxRuntime,
  type OnnxRuntimeOptions,
  type RunOptions,
} from "./onnx-runtime.ts";
export { loadOrt, type Ort, type OrtSession, type OrtTensor } from "./ort.ts";
export { PROBE_INPUT, PROBE_OUTPUT, probeModelBytes } from "./probe-model.ts";
export { EXTERNAL_INITIALIZERS_FOLDER, guardSessionOptions } from "./session-guard.ts";
export { SessionPool } from "./session-pool.ts";
export { sha256Hex } from "./sha256.ts";
export { checkInputs, checkOutputs } from "./signature.ts";

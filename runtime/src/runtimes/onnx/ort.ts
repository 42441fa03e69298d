import { ensureNativeLibs } from "../../system/native-libs.ts";

export type Ort = typeof import("onnxruntime-node");
export type OrtSession = import("onnxruntime-node").InferenceSession;
export type OrtTensor = import("onnxruntime-node").Tensor;

let ort: Promise<Ort> | undefined;

/**
 * Loads onnxruntime-node. In the single executable its shared library is embedded and
 * has to be written out and opened before the addon is imported, so every module reaches
 * the runtime through this function instead of a static import.
 */
export function loadOrt(): Promise<Ort> {
  ort ??= (async () => {
    await ensureNativeLibs();
    return await import("onnxruntime-node");
  })();
  return ort;
}

import { RuntimeError } from "../../errors.ts";
import type { GpuProbe } from "../../system/gpu.ts";

export type ExecutionProviderPreference = "auto" | "cpu" | "cuda";
export type ExecutionProvider = "cpu" | "cuda";

export interface ExecutionProviderChoice {
  provider: ExecutionProvider;
  /** Why this provider, for logs and `doctor`. */
  reason: string;
  gpu: { name: string; cuda: boolean } | null;
}

/**
 * Picks the execution provider once, from the preference and what the machine has.
 * `cuda` asked for explicitly but unavailable is an error; `auto` falls back to CPU.
 */
export function chooseExecutionProvider(
  preference: ExecutionProviderPreference,
  probe: GpuProbe,
): ExecutionProviderChoice {
  const cudaReady = probe.gpu !== null && probe.cudaProviderLib !== null;
  const gpu = probe.gpu ? { name: probe.gpu.name, cuda: cudaReady } : null;
  if (preference === "cpu") return { provider: "cpu", reason: "CPU requested", gpu };
  if (cudaReady) return { provider: "cuda", reason: `CUDA on ${probe.gpu?.name}`, gpu };
  const missing = probe.gpu ? "onnxruntime's CUDA provider library is not installed" : "no NVIDIA GPU found";
  if (preference === "cuda") {
    throw new RuntimeError("UNAVAILABLE", `CUDA execution provider requested but ${missing}`);
  }
  return { provider: "cpu", reason: `CPU (${missing})`, gpu };
}

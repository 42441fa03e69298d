import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";

export interface GpuProbe {
  /** First NVIDIA GPU the kernel driver reports, or null. */
  gpu: { name: string } | null;
  /** onnxruntime's CUDA provider library, if installed beside the runtime. */
  cudaProviderLib: string | null;
}

/** Reads the NVIDIA driver's view of the GPUs; no child process, no CUDA call. */
export function detectNvidiaGpu(procRoot = "/proc/driver/nvidia/gpus"): { name: string } | null {
  try {
    for (const bus of readdirSync(procRoot)) {
      const info = readFileSync(join(procRoot, bus, "information"), "utf8");
      const model = /^Model:\s*(.+)$/m.exec(info)?.[1]?.trim();
      if (model) return { name: model };
    }
  } catch {
    // No driver loaded: no usable GPU.
  }
  return existsSync("/dev/nvidia0") ? { name: "NVIDIA GPU" } : null;
}

/** Looks for libonnxruntime_providers_cuda.so next to the onnxruntime-node addon. */
export function findCudaProviderLib(extraDirs: readonly string[] = []): string | null {
  const dirs = [...extraDirs];
  try {
    const addon = Bun.resolveSync("onnxruntime-node/package.json", import.meta.dir);
    dirs.push(join(dirname(addon), "bin", "napi-v6", process.platform, process.arch));
  } catch {
    // Not resolvable in a compiled executable: only the extra folders count.
  }
  for (const dir of dirs) {
    const p = join(dir, "libonnxruntime_providers_cuda.so");
    if (existsSync(p)) return p;
  }
  return null;
}

export function probeGpu(extraDirs: readonly string[] = []): GpuProbe {
  return { gpu: detectNvidiaGpu(), cudaProviderLib: findCudaProviderLib(extraDirs) };
}

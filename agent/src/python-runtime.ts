/**
 * The one place the agent reaches the sandboxed Python runtime (runtimes/python): the
 * doctor's sandbox section, `ncn-agent sandbox run`, and whether `python` is offered
 * in the agent's capabilities.
 */
import { embeddedAssets } from "@ncn/runtime/embedded";
import {
  type LayerReport,
  materializeShim,
  type PythonRuntimeOptions,
  sandboxDoctor,
  sandboxRunCommand,
} from "./runtimes/python/index.ts";

/** Runtime options: the shim embedded in the executable if any, compiled into `cacheDir` otherwise. */
export async function pythonRuntimeOptions(cacheDir: string): Promise<PythonRuntimeOptions> {
  const embedded = embeddedAssets().sandboxShim;
  if (!embedded) return { cacheDir };
  // Read straight from the executable: a copy staged on disk and reused by its size could be
  // swapped for another program of the same size.
  return { cacheDir, shimPath: await materializeShim(embedded, cacheDir) };
}

export interface SandboxSupport {
  available: boolean;
  /** Required layers that are missing, with their reason. */
  missing: string[];
  reports: LayerReport[];
}

/** Probes every isolation layer and runs a self-check task in the sandbox. */
export async function sandboxSupport(cacheDir: string): Promise<SandboxSupport> {
  try {
    const reports = await sandboxDoctor(await pythonRuntimeOptions(cacheDir));
    const missing = reports.filter((r) => r.required && !r.available).map((r) => `${r.layer}: ${r.reason}`);
    return { available: missing.length === 0, missing, reports };
  } catch (e) {
    return { available: false, missing: [`sandbox: ${(e as Error).message}`], reports: [] };
  }
}

/** `ncn-agent sandbox run FILE.py ...`; resolves to the process exit code. */
export async function runSandboxCommand(argv: readonly string[], cacheDir: string): Promise<number> {
  return sandboxRunCommand(argv, await pythonRuntimeOptions(cacheDir));
}

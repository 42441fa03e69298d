import { access, constants } from "node:fs/promises";
import * as v from "valibot";
import { PythonSandboxError } from "./errors.ts";
import { CORE_LAYERS, OPTIONAL_LAYERS } from "./layers.ts";
import { DEFAULT_MAXIMA } from "./limits.ts";
import {
  DEFAULT_PYTHON,
  DEFAULT_SANDBOX_UID,
  type PythonRuntimeOptions,
  runPythonTask,
} from "./run-python-task.ts";
import { ProbeLine } from "./schemas.ts";
import { defaultShimCacheDir, resolveShim } from "./shim-build.ts";

/** One line of the doctor's answer. */
export interface LayerReport {
  readonly layer: string;
  readonly available: boolean;
  /** Whether tasks are refused when this layer is missing. */
  readonly required: boolean;
  readonly reason: string;
}

/** Checked from inside a real sandboxed run: what the program actually sees. */
const SELF_CHECK = `
import json, os
status = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines() if ":\\t" in l)
pids = [p for p in os.listdir("/proc") if p.isdigit()]
json.dump({
    "uid": os.getuid(),
    "noNewPrivs": status.get("NoNewPrivs", "").strip(),
    "seccomp": status.get("Seccomp", "").strip(),
    "capEff": status.get("CapEff", "").strip(),
    "pids": len(pids),
    "hostname": os.uname().nodename,
}, open(3, "w"))
`;

const SelfCheck = v.object({
  uid: v.number(),
  noNewPrivs: v.string(),
  seccomp: v.string(),
  capEff: v.string(),
  pids: v.number(),
  hostname: v.string(),
});

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

async function probe(shim: string, uid: number, gid: number): Promise<ProbeLine[]> {
  const proc = Bun.spawn([shim, "probe", "--uid", String(uid), "--gid", String(gid)], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: {},
  });
  const [out, code] = await Promise.all([new Response(proc.stdout).text(), proc.exited]);
  if (code !== 0) throw new Error(`probe exited with status ${code}`);
  return out
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => v.parse(ProbeLine, JSON.parse(line)));
}

/**
 * Checks every isolation layer on this machine, then runs a real task and
 * checks from inside that the program is confined.
 *
 * @example
 * for (const r of await sandboxDoctor()) console.log(r.available ? "ok " : "NO ", r.layer, r.reason);
 */
export async function sandboxDoctor(options: PythonRuntimeOptions = {}): Promise<LayerReport[]> {
  const required = new Set<string>([...CORE_LAYERS, ...(options.requiredLayers ?? OPTIONAL_LAYERS)]);
  const python = options.python ?? DEFAULT_PYTHON;
  const reports: LayerReport[] = [];

  const pythonOk = await access(python, constants.X_OK).then(
    () => true,
    () => false,
  );
  reports.push({
    layer: "python",
    available: pythonOk,
    required: true,
    reason: pythonOk ? `${python} is executable` : `${python} is missing (apt-get install python3-minimal)`,
  });

  let shim: string;
  try {
    shim = await resolveShim({
      shimPath: options.shimPath,
      cacheDir: options.cacheDir ?? defaultShimCacheDir(),
    });
    reports.push({ layer: "shim", available: true, required: true, reason: shim });
  } catch (error) {
    reports.push({ layer: "shim", available: false, required: true, reason: message(error) });
    return reports;
  }

  try {
    const uid = options.uid ?? DEFAULT_SANDBOX_UID;
    for (const line of await probe(shim, uid, options.gid ?? uid)) {
      reports.push({
        layer: line.layer,
        available: line.available,
        required: required.has(line.layer),
        reason: line.detail,
      });
    }
  } catch (error) {
    reports.push({ layer: "probe", available: false, required: true, reason: message(error) });
    return reports;
  }

  if (!pythonOk || reports.some((r) => r.required && !r.available)) {
    reports.push({
      layer: "end-to-end",
      available: false,
      required: true,
      reason: "skipped: a required layer is missing",
    });
    return reports;
  }
  try {
    const { result, usage } = await runPythonTask(
      { source: SELF_CHECK, limits: { wallMs: 10_000 } },
      DEFAULT_MAXIMA,
      options,
    );
    const seen = v.parse(SelfCheck, result);
    const confined =
      seen.uid !== 0 &&
      seen.noNewPrivs === "1" &&
      /^0+$/.test(seen.capEff) &&
      seen.pids <= 2 &&
      seen.hostname === "sandbox" &&
      (seen.seccomp === "2" || !required.has("seccomp"));
    reports.push({
      layer: "end-to-end",
      available: confined,
      required: true,
      reason: `program saw uid ${seen.uid}, NoNewPrivs ${seen.noNewPrivs}, Seccomp ${seen.seccomp}, CapEff ${seen.capEff}, ${seen.pids} pids, hostname ${seen.hostname} (${usage.wallMs} ms)`,
    });
  } catch (error) {
    const reason = error instanceof PythonSandboxError ? `${error.code}: ${error.message}` : message(error);
    reports.push({ layer: "end-to-end", available: false, required: true, reason });
  }
  return reports;
}

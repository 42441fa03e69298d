import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_MAXIMA,
  type PythonRuntimeOptions,
  runPythonTask,
} from "../../../agent/src/runtimes/python/index.ts";
import { percentile } from "../stats.ts";

export interface SandboxFigures {
  /** Spawning `/usr/bin/python3 -c pass` directly, per call. */
  python_plain_ms_p50: number;
  python_plain_ms_p90: number;
  /** A sandboxed task running `pass`, through runPythonTask (spawn, set-up, run, report). */
  sandbox_start_ms_p50: number;
  sandbox_start_ms_p90: number;
  /** sandbox_start_ms_p50 / python_plain_ms_p50, measured interleaved in the same run. */
  sandbox_start_overhead_ratio: number;
  /** The sandbox around `/usr/bin/true` instead of Python, against spawning `true` directly. */
  sandbox_setup_ms_p50: number;
  true_plain_ms_p50: number;
  /** Small JSON-in/JSON-out tasks per second with 1, 2 and 4 in flight. */
  sandbox_tasks_per_s_c1: number;
  sandbox_tasks_per_s_c2: number;
  sandbox_tasks_per_s_c4: number;
  /** The same programs as plain `python3` processes with 4 in flight, for scale. */
  python_plain_tasks_per_s_c4: number;
}

const TASK_SOURCE = `import json, sys
data = json.load(sys.stdin)
json.dump({"sum": sum(data["xs"]), "n": len(data["xs"])}, open(3, "w"))
`;

async function spawnPlain(argv: string[], stdin?: Uint8Array): Promise<void> {
  const proc = Bun.spawn(argv, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env: {} });
  const [, , code] = await Promise.all([
    new Response(proc.stdout).arrayBuffer(),
    new Response(proc.stderr).arrayBuffer(),
    proc.exited,
  ]);
  if (code !== 0) throw new Error(`${argv.join(" ")} exited ${code}`);
}

async function elapsed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs `total` jobs with `concurrency` in flight; returns jobs per second. */
async function throughput(total: number, concurrency: number, job: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < total) {
        next++;
        await job();
      }
    }),
  );
  return total / ((performance.now() - t0) / 1000);
}

/**
 * Start overhead of the Python sandbox against plain Python, and task
 * throughput. Plain and sandboxed runs alternate so both see the same load.
 */
export async function benchSandbox(
  quick: boolean,
  options: PythonRuntimeOptions = {},
): Promise<SandboxFigures> {
  const opts: PythonRuntimeOptions = {
    cacheDir: join(tmpdir(), `ncn-sandbox-bench-${process.getuid?.() ?? "u"}`),
    ...options,
  };
  const n = quick ? 25 : 150;
  const sandboxPass = () => runPythonTask({ source: "pass" }, DEFAULT_MAXIMA, opts);
  const sandboxTrue = () =>
    runPythonTask({ source: "pass" }, DEFAULT_MAXIMA, { ...opts, python: "/usr/bin/true" });
  const plainPass = () => spawnPlain(["/usr/bin/python3", "-c", "pass"]);
  const plainTrue = () => spawnPlain(["/usr/bin/true"]);

  for (let i = 0; i < 3; i++) await Promise.all([sandboxPass(), plainPass()].map((p) => p));
  const plain: number[] = [];
  const sandboxed: number[] = [];
  const trueSandboxed: number[] = [];
  const truePlain: number[] = [];
  for (let i = 0; i < n; i++) {
    plain.push(await elapsed(plainPass));
    sandboxed.push(await elapsed(sandboxPass));
    truePlain.push(await elapsed(plainTrue));
    trueSandboxed.push(await elapsed(sandboxTrue));
  }

  const input = { xs: Array.from({ length: 1000 }, (_, i) => i) };
  const inputBytes = new TextEncoder().encode(JSON.stringify(input));
  const task = () => runPythonTask({ source: TASK_SOURCE, input }, DEFAULT_MAXIMA, opts);
  const plainTask = () =>
    spawnPlain(["/usr/bin/python3", "-c", TASK_SOURCE.replace('open(3, "w")', "sys.stdout")], inputBytes);
  const jobs = quick ? 20 : 120;
  const c1 = await throughput(jobs, 1, task);
  const c2 = await throughput(jobs, 2, task);
  const c4 = await throughput(jobs, 4, task);
  const plainC4 = await throughput(jobs, 4, plainTask);

  const plainP50 = percentile(plain, 50);
  const sandboxP50 = percentile(sandboxed, 50);
  return {
    python_plain_ms_p50: plainP50,
    python_plain_ms_p90: percentile(plain, 90),
    sandbox_start_ms_p50: sandboxP50,
    sandbox_start_ms_p90: percentile(sandboxed, 90),
    sandbox_start_overhead_ratio: sandboxP50 / plainP50,
    sandbox_setup_ms_p50: percentile(trueSandboxed, 50),
    true_plain_ms_p50: percentile(truePlain, 50),
    sandbox_tasks_per_s_c1: c1,
    sandbox_tasks_per_s_c2: c2,
    sandbox_tasks_per_s_c4: c4,
    python_plain_tasks_per_s_c4: plainC4,
  };
}

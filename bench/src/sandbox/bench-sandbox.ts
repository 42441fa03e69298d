import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  DEFAULT_MAXIMA,
  PYTHON_FLAGS,
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
  /**
   * Median of sandboxed / plain start time, each pair measured back to back so
   * both see the same machine load (robust on a busy machine).
   */
  sandbox_start_overhead_ratio: number;
  /** Plain `python3` with the sandbox's own flags (-E -S -B), and the sandbox against that (paired median). */
  python_same_flags_ms_p50: number;
  sandbox_vs_same_flags_ratio: number;
  /** The sandbox around `/usr/bin/true` instead of Python, against spawning `true` directly. */
  sandbox_setup_ms_p50: number;
  true_plain_ms_p50: number;
  /** Small JSON-in/JSON-out tasks per second with 1, 2 and 4 in flight. */
  sandbox_tasks_per_s_c1: number;
  sandbox_tasks_per_s_c2: number;
  sandbox_tasks_per_s_c4: number;
  /** The same programs as plain `python3 -E -S -B` processes, batches alternating with the sandbox's. */
  python_plain_tasks_per_s_c1: number;
  python_plain_tasks_per_s_c2: number;
  python_plain_tasks_per_s_c4: number;
}

const TASK_SOURCE = `import json, sys
data = json.load(sys.stdin)
json.dump({"sum": sum(data["xs"]), "n": len(data["xs"])}, open(3, "w"))
`;

const plainFailures: string[] = [];
/** The locale the sandboxed program gets, so both interpreters start the same way. */
const PLAIN_ENV = { LANG: "C.UTF-8" };

/**
 * Runs a plain process until its output is closed, the same point at which a
 * sandboxed task is complete (runPythonTask does not wait for the shim's exit
 * either); exit codes are checked as they arrive.
 */
async function spawnPlain(argv: string[], stdin?: Uint8Array): Promise<void> {
  const proc = Bun.spawn(argv, { stdin: stdin ?? "ignore", stdout: "pipe", stderr: "pipe", env: PLAIN_ENV });
  proc.exited.then((code) => {
    if (code !== 0) plainFailures.push(`${argv.join(" ")} exited ${code}`);
  });
  await Promise.all([new Response(proc.stdout).arrayBuffer(), new Response(proc.stderr).arrayBuffer()]);
}

async function elapsed(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

/** Runs `total` jobs with `concurrency` in flight; returns elapsed milliseconds. */
async function batch(total: number, concurrency: number, job: () => Promise<unknown>): Promise<number> {
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
  return performance.now() - t0;
}

/** Jobs per second of `a` and `b`, alternating batches so both see the same machine load. */
async function interleavedRates(
  rounds: number,
  perRound: number,
  concurrency: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[number, number]> {
  let msA = 0;
  let msB = 0;
  for (let r = 0; r < rounds; r++) {
    msA += await batch(perRound, concurrency, a);
    msB += await batch(perRound, concurrency, b);
  }
  const jobs = rounds * perRound;
  return [jobs / (msA / 1000), jobs / (msB / 1000)];
}

/** Median of a[i] / b[i]. */
function pairedRatio(a: readonly number[], b: readonly number[]): number {
  return percentile(
    a.map((x, i) => x / (b[i] ?? Number.NaN)),
    50,
  );
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
  const n = quick ? 40 : 150;
  const sandboxPass = () => runPythonTask({ source: "pass" }, DEFAULT_MAXIMA, opts);
  const sandboxTrue = () =>
    runPythonTask({ source: "pass" }, DEFAULT_MAXIMA, { ...opts, python: "/usr/bin/true" });
  const plainPass = () => spawnPlain(["/usr/bin/python3", "-c", "pass"]);
  const sameFlagsPass = () => spawnPlain(["/usr/bin/python3", ...PYTHON_FLAGS, "-c", "pass"]);
  const plainTrue = () => spawnPlain(["/usr/bin/true"]);

  for (let i = 0; i < 3; i++) await Promise.all([sandboxPass(), plainPass()]);
  const plain: number[] = [];
  const sandboxed: number[] = [];
  const trueSandboxed: number[] = [];
  const truePlain: number[] = [];
  const sameFlags: number[] = [];
  for (let i = 0; i < n; i++) {
    // Alternate which side goes first, so neither always runs right after the other.
    if (i % 2 === 1) sandboxed.push(await elapsed(sandboxPass));
    plain.push(await elapsed(plainPass));
    sameFlags.push(await elapsed(sameFlagsPass));
    if (i % 2 === 0) sandboxed.push(await elapsed(sandboxPass));
    truePlain.push(await elapsed(plainTrue));
    trueSandboxed.push(await elapsed(sandboxTrue));
  }

  const input = { xs: Array.from({ length: 1000 }, (_, i) => i) };
  const inputBytes = new TextEncoder().encode(JSON.stringify(input));
  const task = () => runPythonTask({ source: TASK_SOURCE, input }, DEFAULT_MAXIMA, opts);
  const plainTask = () =>
    spawnPlain(
      ["/usr/bin/python3", ...PYTHON_FLAGS, "-c", TASK_SOURCE.replace('open(3, "w")', "sys.stdout")],
      inputBytes,
    );
  const rounds = quick ? 2 : 6;
  const perRound = 12;
  const [c1, plainC1] = await interleavedRates(rounds, perRound, 1, task, plainTask);
  const [c2, plainC2] = await interleavedRates(rounds, perRound, 2, task, plainTask);
  const [c4, plainC4] = await interleavedRates(rounds, perRound, 4, task, plainTask);

  if (plainFailures.length > 0) throw new Error(`plain runs failed: ${plainFailures.slice(0, 3).join("; ")}`);
  const plainP50 = percentile(plain, 50);
  const sandboxP50 = percentile(sandboxed, 50);
  return {
    python_plain_ms_p50: plainP50,
    python_plain_ms_p90: percentile(plain, 90),
    sandbox_start_ms_p50: sandboxP50,
    sandbox_start_ms_p90: percentile(sandboxed, 90),
    sandbox_start_overhead_ratio: pairedRatio(sandboxed, plain),
    python_same_flags_ms_p50: percentile(sameFlags, 50),
    sandbox_vs_same_flags_ratio: pairedRatio(sandboxed, sameFlags),
    sandbox_setup_ms_p50: percentile(trueSandboxed, 50),
    true_plain_ms_p50: percentile(truePlain, 50),
    sandbox_tasks_per_s_c1: c1,
    sandbox_tasks_per_s_c2: c2,
    sandbox_tasks_per_s_c4: c4,
    python_plain_tasks_per_s_c1: plainC1,
    python_plain_tasks_per_s_c2: plainC2,
    python_plain_tasks_per_s_c4: plainC4,
  };
}

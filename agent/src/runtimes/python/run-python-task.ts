import * as v from "valibot";
import { SandboxInternalError, TaskInputError } from "./errors.ts";
import { interpretRun, type PythonResult } from "./interpret-run.ts";
import { layerMask, OPTIONAL_LAYERS, type OptionalLayer } from "./layers.ts";
import { DEFAULT_MAXIMA, resolveLimits } from "./limits.ts";
import { PythonTask, type SandboxMaxima } from "./schemas.ts";
import { defaultShimCacheDir, resolveShim } from "./shim-build.ts";
import { encodeShimRequest, parseShimOutput, shimRunArgs } from "./shim-protocol.ts";

/** How the shim process is started: its argv and environment. */
export interface ShimLaunch {
  readonly argv: readonly string[];
  readonly env: Readonly<Record<string, string>>;
}

/** Wraps the shim's argv, e.g. in an outer guard. The default runs it directly with an empty environment. */
export type ShimLauncher = (argv: readonly string[]) => ShimLaunch;

export interface PythonRuntimeOptions {
  /** A prebuilt shim; otherwise it is compiled into `cacheDir` on first use. */
  readonly shimPath?: string | undefined;
  /** Private directory for the compiled shim (default `defaultShimCacheDir()`). */
  readonly cacheDir?: string | undefined;
  /** The interpreter (default Debian's `/usr/bin/python3`). */
  readonly python?: string | undefined;
  /** Host uid/gid the shim drops to when the agent runs as root (default 65534, "nobody"). */
  readonly uid?: number | undefined;
  readonly gid?: number | undefined;
  /** Optional layers that must be present (default: all of them). */
  readonly requiredLayers?: readonly OptionalLayer[] | undefined;
  readonly launcher?: ShimLauncher | undefined;
  /** Aborting kills the sandbox; the promise rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

export const DEFAULT_PYTHON = "/usr/bin/python3";
export const DEFAULT_SANDBOX_UID = 65534;

/** Extra time the shim gets beyond the task's wall limit before the agent kills it. */
const BACKSTOP_MS = 5000;
const MiB = 1024 * 1024;

const directLaunch: ShimLauncher = (argv) => ({ argv, env: {} });

function sourceBytes(source: string | Uint8Array): Uint8Array {
  if (typeof source === "string") {
    // A lone surrogate has no UTF-8 form; TextEncoder would silently replace it.
    if (/\p{Cs}/u.test(source)) {
      throw new TaskInputError("source_not_utf8", "task source contains an unpaired UTF-16 surrogate");
    }
    return new TextEncoder().encode(source);
  }
  try {
    new TextDecoder("utf-8", { fatal: true }).decode(source);
  } catch {
    throw new TaskInputError("source_not_utf8", "task source is not valid UTF-8");
  }
  return source;
}

function inputBytes(input: unknown): Uint8Array {
  let text: string | undefined;
  try {
    text = JSON.stringify(input);
  } catch (error) {
    throw new TaskInputError("invalid_input", `task input is not JSON-serialisable: ${String(error)}`);
  }
  if (text === undefined) throw new TaskInputError("invalid_input", "task input is not a JSON value");
  return new TextEncoder().encode(text);
}

/**
 * Runs one Python task in the sandbox. The program reads its JSON input from
 * stdin and writes its JSON result to descriptor 3. Resolves with the result
 * when it exits 0; rejects with a typed error otherwise (see errors.ts).
 *
 * @example
 * const { result } = await runPythonTask(
 *   { source: "import json,sys\njson.dump(sum(json.load(sys.stdin)), open(3, 'w'))", input: [1, 2] },
 *   DEFAULT_MAXIMA,
 *   { cacheDir: "/var/cache/ncn/sandbox" },
 * ); // result === 3
 */
export async function runPythonTask(
  task: unknown,
  maxima: SandboxMaxima = DEFAULT_MAXIMA,
  options: PythonRuntimeOptions = {},
): Promise<PythonResult> {
  const parsed = v.safeParse(PythonTask, task);
  if (!parsed.success) {
    throw new TaskInputError("invalid_task", `invalid Python task: ${v.summarize(parsed.issues)}`, {
      issues: parsed.issues.map((i) => ({ path: v.getDotPath(i), message: i.message })),
    });
  }
  const source = sourceBytes(parsed.output.source);
  if (source.byteLength > maxima.sourceBytes) {
    throw new TaskInputError("source_too_large", `task source is larger than ${maxima.sourceBytes} bytes`, {
      bytes: source.byteLength,
      maximum: maxima.sourceBytes,
    });
  }
  const input = inputBytes(parsed.output.input);
  if (input.byteLength > maxima.inputBytes) {
    throw new TaskInputError("input_too_large", `task input is larger than ${maxima.inputBytes} bytes`, {
      bytes: input.byteLength,
      maximum: maxima.inputBytes,
    });
  }
  const limits = resolveLimits(parsed.output.limits, maxima);
  if (source.byteLength >= limits.diskMb * MiB) {
    throw new TaskInputError("source_too_large", "task source does not fit on the task's disk", {
      bytes: source.byteLength,
      diskMb: limits.diskMb,
    });
  }

  const shim = await resolveShim({
    shimPath: options.shimPath,
    cacheDir: options.cacheDir ?? defaultShimCacheDir(),
  });
  const argv = [
    shim,
    ...shimRunArgs(
      limits,
      maxima,
      {
        uid: options.uid ?? DEFAULT_SANDBOX_UID,
        gid: options.gid ?? DEFAULT_SANDBOX_UID,
        layers: layerMask(options.requiredLayers ?? OPTIONAL_LAYERS),
      },
      options.python ?? DEFAULT_PYTHON,
    ),
  ];
  const launch = (options.launcher ?? directLaunch)(argv);
  const output = await spawnShim(
    launch,
    encodeShimRequest(source, input),
    limits.wallMs + BACKSTOP_MS,
    options.signal,
  );
  return interpretRun(output, limits);
}

function startShim(launch: ShimLaunch, request: Uint8Array) {
  try {
    return Bun.spawn([...launch.argv], {
      stdin: request,
      stdout: "pipe",
      stderr: "pipe",
      env: { ...launch.env },
    });
  } catch (error) {
    throw new SandboxInternalError(
      "could not start the sandbox shim",
      { reason: String(error) },
      { cause: error },
    );
  }
}

async function spawnShim(launch: ShimLaunch, request: Uint8Array, backstopMs: number, signal?: AbortSignal) {
  signal?.throwIfAborted();
  const proc = startShim(launch, request);
  let backstopHit = false;
  const backstop = setTimeout(() => {
    backstopHit = true;
    proc.kill("SIGKILL");
  }, backstopMs);
  const onAbort = () => proc.kill("SIGKILL");
  signal?.addEventListener("abort", onAbort, { once: true });
  try {
    // The report is complete when the shim closes its output; its exit (tearing
    // down the namespaces) is not waited for unless something went wrong.
    const [stdout, stderr] = await Promise.all([
      new Response(proc.stdout).arrayBuffer(),
      new Response(proc.stderr).text(),
    ]);
    signal?.throwIfAborted();
    if (backstopHit) {
      throw new SandboxInternalError("sandbox shim did not finish in time and was killed", { backstopMs });
    }
    try {
      return parseShimOutput(new Uint8Array(stdout));
    } catch (error) {
      const exitCode = await proc.exited;
      if (error instanceof SandboxInternalError && (exitCode !== 0 || stderr !== "")) {
        throw new SandboxInternalError(error.message, { ...error.details, exitCode, stderr });
      }
      throw error;
    }
  } finally {
    clearTimeout(backstop);
    signal?.removeEventListener("abort", onAbort);
  }
}

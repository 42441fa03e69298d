import * as v from "valibot";
import { OPTIONAL_LAYERS } from "./layers.ts";

const count = (min: number, max: number) => v.pipe(v.number(), v.integer(), v.minValue(min), v.maxValue(max));

const MiB = 1024 * 1024;

/** Per-task resource limits, every field required (after defaults are applied). */
export const SandboxLimits = v.strictObject({
  /** Wall clock, then the whole sandbox is killed. */
  wallMs: count(100, 3_600_000),
  /** CPU seconds (user + system) before SIGXCPU. */
  cpuSeconds: count(1, 3600),
  /** Address space of the program. */
  memoryMb: count(32, 65_536),
  /** Size of the private /work tmpfs. */
  diskMb: count(1, 65_536),
  /** Largest single file the program may write. */
  fileSizeMb: count(1, 65_536),
  /** Cap on stdout and, separately, on stderr. */
  outputBytes: count(1024, 1024 * MiB),
  /** Cap on the JSON result. */
  resultBytes: count(16, 1024 * MiB),
  /** Processes and threads the program may have at once. */
  processes: count(1, 4096),
  openFiles: count(16, 65_536),
});
export type SandboxLimits = v.InferOutput<typeof SandboxLimits>;

/** What a task may ask for; missing fields take the defaults (capped by the maxima). */
export const TaskLimits = v.partial(SandboxLimits);
export type TaskLimits = v.InferOutput<typeof TaskLimits>;

/** The operator's ceiling for every limit, plus the size of what a task may carry. */
export const SandboxMaxima = v.strictObject({
  ...SandboxLimits.entries,
  sourceBytes: count(1, 64 * MiB),
  inputBytes: count(2, 1024 * MiB),
});
export type SandboxMaxima = v.InferOutput<typeof SandboxMaxima>;

/**
 * A Python task. The program reads its JSON input from stdin and writes its
 * JSON result to file descriptor 3 (`NCN_RESULT_FD`); stdout and stderr are
 * captured. The source may be text or UTF-8 bytes.
 */
export const PythonTask = v.strictObject({
  source: v.union([v.string(), v.instance(Uint8Array)]),
  input: v.optional(v.unknown(), null),
  limits: v.optional(TaskLimits, {}),
});
export type PythonTask = v.InferInput<typeof PythonTask>;

/** Which optional layers the operator requires. */
export const RequiredLayers = v.array(v.picklist(OPTIONAL_LAYERS));

const byteCount = v.pipe(v.number(), v.integer(), v.minValue(0));

/** The JSON line the shim prints before the captured bytes. */
export const ShimReport = v.object({
  failure: v.nullable(
    v.object({ step: v.string(), layer: v.string(), errno: v.number(), message: v.string() }),
  ),
  timedOut: v.boolean(),
  overflow: v.nullable(v.picklist(["stdout", "stderr", "result"])),
  exitCode: v.nullable(v.number()),
  signal: v.nullable(v.number()),
  cpuUserUs: byteCount,
  cpuSysUs: byteCount,
  maxRssKb: byteCount,
  wallUs: byteCount,
  stdoutBytes: byteCount,
  stderrBytes: byteCount,
  resultBytes: byteCount,
});
export type ShimReport = v.InferOutput<typeof ShimReport>;

/** One line of `ncn-sandbox probe`. */
export const ProbeLine = v.object({ layer: v.string(), available: v.boolean(), detail: v.string() });
export type ProbeLine = v.InferOutput<typeof ProbeLine>;

/** Everything that can go wrong with a Python task, as literal codes. */
export type PythonSandboxErrorCode =
  | "invalid_task"
  | "source_not_utf8"
  | "source_too_large"
  | "input_too_large"
  | "invalid_input"
  | "limit_above_maximum"
  | "sandbox_refused"
  | "task_timeout"
  | "task_memory"
  | "task_output_too_large"
  | "task_failed"
  | "invalid_result"
  | "sandbox_internal";

/** What a run produced before it failed; attached to run-time errors. */
export interface RunTrace {
  readonly exitCode: number | null;
  readonly signal: number | null;
  /** Last 4 KiB of stderr, decoded as UTF-8. */
  readonly stderrTail: string;
  readonly cpuMs: number;
  readonly peakMemoryKb: number;
  readonly wallMs: number;
}

/**
 * Base of every error of the Python runtime. `code` is a literal; `details`
 * is plain JSON-able data for the wire (`{ error: { code, message, details } }`).
 */
export class PythonSandboxError extends Error {
  override name = "PythonSandboxError";
  readonly code: PythonSandboxErrorCode;
  readonly details: Readonly<Record<string, unknown>> | undefined;

  constructor(
    code: PythonSandboxErrorCode,
    message: string,
    details?: Record<string, unknown>,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.code = code;
    this.details = details;
  }

  toJSON(): { code: PythonSandboxErrorCode; message: string; details?: Readonly<Record<string, unknown>> } {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

/** The task itself is unacceptable: nothing was run. */
export type TaskInputErrorCode =
  | "invalid_task"
  | "source_not_utf8"
  | "source_too_large"
  | "input_too_large"
  | "invalid_input"
  | "limit_above_maximum";

export class TaskInputError extends PythonSandboxError {
  override name = "TaskInputError";
  declare readonly code: TaskInputErrorCode;
  constructor(code: TaskInputErrorCode, message: string, details?: Record<string, unknown>) {
    super(code, message, details);
  }
}

/** A required isolation layer could not be set up: nothing untrusted was run. */
export class SandboxRefusedError extends PythonSandboxError {
  override name = "SandboxRefusedError";
  declare readonly code: "sandbox_refused";
  readonly layer: string;
  constructor(layer: string, step: string, reason: string) {
    super("sandbox_refused", `sandbox refused to run: layer ${layer} unavailable (${step}: ${reason})`, {
      layer,
      step,
      reason,
    });
    this.layer = layer;
  }
}

export class TaskTimeoutError extends PythonSandboxError {
  override name = "TaskTimeoutError";
  declare readonly code: "task_timeout";
  readonly kind: "wall" | "cpu";
  constructor(kind: "wall" | "cpu", limit: number, trace: RunTrace) {
    super(
      "task_timeout",
      kind === "wall"
        ? `task exceeded its wall-clock limit of ${limit} ms`
        : `task exceeded ${limit} s of CPU`,
      { kind, limit, ...trace },
    );
    this.kind = kind;
  }
}

export class TaskMemoryError extends PythonSandboxError {
  override name = "TaskMemoryError";
  declare readonly code: "task_memory";
  constructor(limitMb: number, trace: RunTrace) {
    super("task_memory", `task ran out of its ${limitMb} MiB memory limit`, { limitMb, ...trace });
  }
}

export class TaskOutputTooLargeError extends PythonSandboxError {
  override name = "TaskOutputTooLargeError";
  declare readonly code: "task_output_too_large";
  readonly stream: "stdout" | "stderr" | "result";
  constructor(stream: "stdout" | "stderr" | "result", limitBytes: number, trace: RunTrace) {
    super("task_output_too_large", `task wrote more than ${limitBytes} bytes to ${stream}`, {
      stream,
      limitBytes,
      ...trace,
    });
    this.stream = stream;
  }
}

/** The program ran and exited non-zero (or was killed by a signal). */
export class TaskFailedError extends PythonSandboxError {
  override name = "TaskFailedError";
  declare readonly code: "task_failed";
  readonly exitCode: number | null;
  readonly signal: number | null;
  constructor(trace: RunTrace) {
    super(
      "task_failed",
      trace.signal !== null
        ? `task was killed by signal ${trace.signal}`
        : `task exited with status ${trace.exitCode ?? "unknown"}`,
      { ...trace },
    );
    this.exitCode = trace.exitCode;
    this.signal = trace.signal;
  }
}

/** The program exited 0 but what it wrote to the result descriptor is not JSON. */
export class TaskResultError extends PythonSandboxError {
  override name = "TaskResultError";
  declare readonly code: "invalid_result";
  constructor(message: string, details?: Record<string, unknown>) {
    super("invalid_result", message, details);
  }
}

/** The shim misbehaved (could not be built, crashed, or answered garbage). */
export class SandboxInternalError extends PythonSandboxError {
  override name = "SandboxInternalError";
  declare readonly code: "sandbox_internal";
  constructor(message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super("sandbox_internal", message, details, options);
  }
}

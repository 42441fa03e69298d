import {
  type RunTrace,
  SandboxRefusedError,
  TaskFailedError,
  TaskMemoryError,
  TaskOutputTooLargeError,
  TaskResultError,
  TaskTimeoutError,
} from "./errors.ts";
import type { SandboxLimits } from "./schemas.ts";
import type { ShimOutput } from "./shim-protocol.ts";

export interface PythonUsage {
  readonly cpuMs: number;
  readonly peakMemoryKb: number;
  readonly wallMs: number;
}

/** A program that exited 0. */
export interface PythonResult {
  /** The JSON the program wrote to descriptor 3, or null if it wrote nothing. */
  readonly result: unknown;
  readonly stdout: string;
  readonly stderr: string;
  readonly exitCode: 0;
  readonly usage: PythonUsage;
}

const SIGKILL = 9;
const SIGABRT = 6;
const SIGSEGV = 11;
const SIGBUS = 7;
const SIGXCPU = 24;
const TAIL_BYTES = 4096;

const decoder = new TextDecoder();

function lastLine(text: string): string {
  const lines = text.trimEnd().split("\n");
  return lines[lines.length - 1] ?? "";
}

/**
 * Turns what the shim saw into a result or a typed error. Pure: the same
 * report always gives the same answer.
 */
export function interpretRun(output: ShimOutput, limits: SandboxLimits): PythonResult {
  const { report } = output;
  if (report.failure !== null) {
    const { layer, step, message } = report.failure;
    throw new SandboxRefusedError(layer, step, message);
  }
  const stderr = decoder.decode(output.stderr);
  const trace: RunTrace = {
    exitCode: report.exitCode,
    signal: report.signal,
    stderrTail: decoder.decode(output.stderr.subarray(Math.max(0, output.stderr.byteLength - TAIL_BYTES))),
    cpuMs: Math.round((report.cpuUserUs + report.cpuSysUs) / 1000),
    peakMemoryKb: report.maxRssKb,
    wallMs: Math.round(report.wallUs / 1000),
  };
  if (report.timedOut) throw new TaskTimeoutError("wall", limits.wallMs, trace);
  if (report.overflow !== null) {
    const limit = report.overflow === "result" ? limits.resultBytes : limits.outputBytes;
    throw new TaskOutputTooLargeError(report.overflow, limit, trace);
  }
  if (report.signal === SIGXCPU) throw new TaskTimeoutError("cpu", limits.cpuSeconds, trace);
  if (report.exitCode !== 0) {
    const last = lastLine(stderr);
    const nearLimit = report.maxRssKb * 1024 >= 0.9 * limits.memoryMb * 1024 * 1024;
    const crashed = report.signal !== null && [SIGKILL, SIGABRT, SIGSEGV, SIGBUS].includes(report.signal);
    if (/^MemoryError\b|\[Errno 12\] Cannot allocate memory/.test(last) || (crashed && nearLimit)) {
      throw new TaskMemoryError(limits.memoryMb, trace);
    }
    throw new TaskFailedError(trace);
  }
  let result: unknown = null;
  if (output.result.byteLength > 0) {
    try {
      result = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(output.result));
    } catch (error) {
      throw new TaskResultError("task wrote a result that is not UTF-8 JSON", {
        reason: String(error),
        bytes: output.result.byteLength,
      });
    }
  }
  return {
    result,
    stdout: decoder.decode(output.stdout),
    stderr,
    exitCode: 0,
    usage: { cpuMs: trace.cpuMs, peakMemoryKb: trace.peakMemoryKb, wallMs: trace.wallMs },
  };
}

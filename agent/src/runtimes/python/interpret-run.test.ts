import { describe, expect, test } from "bun:test";
import {
  SandboxRefusedError,
  TaskFailedError,
  TaskMemoryError,
  TaskOutputTooLargeError,
  TaskResultError,
  TaskTimeoutError,
} from "./errors.ts";
import { interpretRun } from "./interpret-run.ts";
import { DEFAULT_LIMITS } from "./limits.ts";
import type { ShimReport } from "./schemas.ts";

const enc = (s: string) => new TextEncoder().encode(s);

function outcome(
  report: Partial<ShimReport>,
  streams: { stdout?: string; stderr?: string; result?: string; raw?: Uint8Array } = {},
) {
  const full: ShimReport = {
    failure: null,
    timedOut: false,
    overflow: null,
    exitCode: 0,
    signal: null,
    cpuUserUs: 12_000,
    cpuSysUs: 3_000,
    maxRssKb: 9_000,
    wallUs: 25_000,
    stdoutBytes: 0,
    stderrBytes: 0,
    resultBytes: 0,
    ...report,
  };
  const run = () =>
    interpretRun(
      {
        report: full,
        stdout: enc(streams.stdout ?? ""),
        stderr: enc(streams.stderr ?? ""),
        result: streams.raw ?? enc(streams.result ?? ""),
      },
      DEFAULT_LIMITS,
    );
  try {
    return { value: run() };
  } catch (error) {
    return { error };
  }
}

describe("interpretRun", () => {
  test("exit 0 gives the parsed result and usage in ms", () => {
    const { value } = outcome({}, { stdout: "hi\n", result: '{"a":[1,2]}' });
    expect(value).toEqual({
      result: { a: [1, 2] },
      stdout: "hi\n",
      stderr: "",
      exitCode: 0,
      usage: { cpuMs: 15, peakMemoryKb: 9000, wallMs: 25 },
    });
  });

  test("a set-up failure is a refusal naming the layer", () => {
    const { error } = outcome({
      failure: { step: "landlock-net", layer: "landlock-net", errno: 95, message: "Operation not supported" },
    });
    expect(error).toBeInstanceOf(SandboxRefusedError);
    expect((error as SandboxRefusedError).layer).toBe("landlock-net");
  });

  test("the wall clock wins over everything the program did", () => {
    const { error } = outcome({ timedOut: true, signal: 9, exitCode: null, overflow: "stdout" });
    expect(error).toBeInstanceOf(TaskTimeoutError);
    expect((error as TaskTimeoutError).kind).toBe("wall");
  });

  test("SIGXCPU is a CPU timeout", () => {
    const { error } = outcome({ exitCode: null, signal: 24 });
    expect((error as TaskTimeoutError).kind).toBe("cpu");
  });

  test("an overflow names its stream", () => {
    const { error } = outcome({ overflow: "stderr", exitCode: null, signal: 9 });
    expect(error).toBeInstanceOf(TaskOutputTooLargeError);
    expect((error as TaskOutputTooLargeError).stream).toBe("stderr");
  });

  test("MemoryError as the last stderr line is a memory error", () => {
    const { error } = outcome(
      { exitCode: 1 },
      { stderr: "Traceback (most recent call last):\n  ...\nMemoryError\n" },
    );
    expect(error).toBeInstanceOf(TaskMemoryError);
  });

  test("a crash near the memory limit is a memory error, far from it a failure", () => {
    const nearKb = DEFAULT_LIMITS.memoryMb * 1024;
    expect(outcome({ exitCode: null, signal: 11, maxRssKb: nearKb }).error).toBeInstanceOf(TaskMemoryError);
    const far = outcome({ exitCode: null, signal: 11, maxRssKb: 10_000 }).error;
    expect(far).toBeInstanceOf(TaskFailedError);
    expect((far as TaskFailedError).signal).toBe(11);
  });

  test("a caught MemoryError mentioned mid-stderr does not hide a plain failure", () => {
    const { error } = outcome({ exitCode: 2 }, { stderr: "MemoryError handled\nValueError: boom\n" });
    expect(error).toBeInstanceOf(TaskFailedError);
    expect((error as TaskFailedError).exitCode).toBe(2);
  });

  test("a result that is not JSON, or not UTF-8, is an invalid result", () => {
    expect(outcome({}, { result: "{oops" }).error).toBeInstanceOf(TaskResultError);
    expect(outcome({}, { raw: new Uint8Array([0x22, 0xff, 0x22]) }).error).toBeInstanceOf(TaskResultError);
  });
});

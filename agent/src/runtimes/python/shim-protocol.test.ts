import { describe, expect, test } from "bun:test";
import { SandboxInternalError } from "./errors.ts";
import { DEFAULT_LIMITS, DEFAULT_MAXIMA } from "./limits.ts";
import { encodeShimRequest, parseShimOutput, shimRunArgs } from "./shim-protocol.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const REPORT = {
  failure: null,
  timedOut: false,
  overflow: null,
  exitCode: 0,
  signal: null,
  cpuUserUs: 1000,
  cpuSysUs: 500,
  maxRssKb: 9000,
  wallUs: 20000,
};

function output(report: object, ...parts: string[]): Uint8Array {
  return enc(`${JSON.stringify(report)}\n${parts.join("")}`);
}

describe("shim protocol", () => {
  test("the request is a length header followed by source and input", () => {
    expect(new TextDecoder().decode(encodeShimRequest(enc("pass"), enc('{"a":1}')))).toBe('4 7\npass{"a":1}');
  });

  test("run arguments carry every limit in the shim's units", () => {
    const args = shimRunArgs(
      DEFAULT_LIMITS,
      DEFAULT_MAXIMA,
      { uid: 65534, gid: 65533, layers: 15 },
      "/usr/bin/python3",
    );
    const value = (flag: string) => args[args.indexOf(flag) + 1];
    expect(args[0]).toBe("run");
    expect(value("--memory")).toBe(String(DEFAULT_LIMITS.memoryMb * 1024 * 1024));
    expect(value("--nproc")).toBe(String(DEFAULT_LIMITS.processes + 2));
    expect(value("--gid")).toBe("65533");
    expect(args.slice(args.indexOf("--"))).toEqual([
      "--",
      "/usr/bin/python3",
      "-E",
      "-S",
      "-B",
      "/work/main.py",
    ]);
  });

  test("the three captured streams are split by the lengths in the report", () => {
    const parsed = parseShimOutput(
      output({ ...REPORT, stdoutBytes: 3, stderrBytes: 2, resultBytes: 4 }, "out", "er", "[42]"),
    );
    const dec = (b: Uint8Array) => new TextDecoder().decode(b);
    expect([dec(parsed.stdout), dec(parsed.stderr), dec(parsed.result)]).toEqual(["out", "er", "[42]"]);
    expect(parsed.report.maxRssKb).toBe(9000);
  });

  test("missing, garbled, invalid or truncated reports are internal errors", () => {
    const bad = [
      enc(""),
      enc("not json\n"),
      output({ ...REPORT, stdoutBytes: -1, stderrBytes: 0, resultBytes: 0 }),
      output({ ...REPORT, overflow: "stdin", stdoutBytes: 0, stderrBytes: 0, resultBytes: 0 }),
      output({ ...REPORT, stdoutBytes: 10, stderrBytes: 0, resultBytes: 0 }, "short"),
    ];
    for (const bytes of bad) expect(() => parseShimOutput(bytes)).toThrow(SandboxInternalError);
  });
});

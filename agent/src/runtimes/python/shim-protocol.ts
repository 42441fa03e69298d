import * as v from "valibot";
import { SandboxInternalError } from "./errors.ts";
import { type SandboxLimits, type SandboxMaxima, ShimReport } from "./schemas.ts";

const MiB = 1024 * 1024;

/** Where the program finds its source inside the sandbox (see shim.h). */
export const SANDBOX_SOURCE_PATH = "/work/main.py";

/**
 * Interpreter flags: -E ignores PYTHON* variables; -S skips `site`, so no
 * host site-packages and none of their .pth start-up hooks run inside the
 * sandbox (only the standard library is importable, the same on every agent,
 * and start-up is faster; `exit()`/`quit()` helpers are absent, `sys.exit`
 * works); -B writes no bytecode (the system tree is read-only anyway). The
 * script's directory (/work) stays on sys.path so a program may import
 * modules it writes there.
 */
export const PYTHON_FLAGS = ["-E", "-S", "-B"] as const;

export interface ShimIdentity {
  /** Host uid/gid the shim drops to when started as root. */
  readonly uid: number;
  readonly gid: number;
  /** `--layers` mask of required optional layers. */
  readonly layers: number;
}

/** `run` arguments for one task. */
export function shimRunArgs(
  limits: SandboxLimits,
  maxima: SandboxMaxima,
  identity: ShimIdentity,
  python: string,
): string[] {
  const opts: [string, number][] = [
    ["--memory", limits.memoryMb * MiB],
    ["--cpu", limits.cpuSeconds],
    ["--wall", limits.wallMs],
    ["--nofile", limits.openFiles],
    // The supervisor and the namespace's init share the program's uid count.
    ["--nproc", limits.processes + 2],
    ["--fsize", limits.fileSizeMb * MiB],
    ["--disk", limits.diskMb * MiB],
    ["--output", limits.outputBytes],
    ["--result", limits.resultBytes],
    ["--max-source", maxima.sourceBytes],
    ["--max-input", maxima.inputBytes],
    ["--uid", identity.uid],
    ["--gid", identity.gid],
    ["--layers", identity.layers],
  ];
  return [
    "run",
    ...opts.flatMap(([k, n]) => [k, String(n)]),
    "--",
    python,
    ...PYTHON_FLAGS,
    SANDBOX_SOURCE_PATH,
  ];
}

/** What the shim reads on stdin: "<source bytes> <input bytes>\n" + source + input. */
export function encodeShimRequest(source: Uint8Array, input: Uint8Array): Uint8Array {
  const header = new TextEncoder().encode(`${source.byteLength} ${input.byteLength}\n`);
  const out = new Uint8Array(header.byteLength + source.byteLength + input.byteLength);
  out.set(header, 0);
  out.set(source, header.byteLength);
  out.set(input, header.byteLength + source.byteLength);
  return out;
}

export interface ShimOutput {
  readonly report: ShimReport;
  readonly stdout: Uint8Array;
  readonly stderr: Uint8Array;
  readonly result: Uint8Array;
}

/** Splits the shim's stdout into the report line and the three captured streams. */
export function parseShimOutput(bytes: Uint8Array): ShimOutput {
  const newline = bytes.indexOf(0x0a);
  if (newline < 0)
    throw new SandboxInternalError("sandbox shim wrote no report", { bytes: bytes.byteLength });
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(0, newline)));
  } catch (error) {
    throw new SandboxInternalError("sandbox shim wrote an unreadable report", { reason: String(error) });
  }
  const parsed = v.safeParse(ShimReport, header);
  if (!parsed.success) {
    throw new SandboxInternalError("sandbox shim wrote an invalid report", {
      issues: v.summarize(parsed.issues),
    });
  }
  const report = parsed.output;
  const start = newline + 1;
  const total = report.stdoutBytes + report.stderrBytes + report.resultBytes;
  if (bytes.byteLength - start !== total) {
    throw new SandboxInternalError("sandbox shim output is truncated", {
      expected: total,
      got: bytes.byteLength - start,
    });
  }
  const a = start + report.stdoutBytes;
  const b = a + report.stderrBytes;
  return {
    report,
    stdout: bytes.subarray(start, a),
    stderr: bytes.subarray(a, b),
    result: bytes.subarray(b, b + report.resultBytes),
  };
}

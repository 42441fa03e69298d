import { dlopen, ptr } from "bun:ffi";
import { readFileSync } from "node:fs";
import { totalmem } from "node:os";
import { RuntimeError } from "../errors.ts";

// A model is data, but the graph decides how much memory its run allocates: one Expand node
// asks for 16 GiB as easily as for 16 bytes. onnxruntime has no cap of its own on the CPU, and
// inference runs on a thread of the agent, so the cap is the process's: the soft limit on its
// data segment (RLIMIT_DATA: private writable memory, which is where every tensor lives).
// An allocation past it fails inside onnxruntime, which reports it as a failed run; the agent
// answers MODEL_LIMIT_EXCEEDED and goes on serving. The hard limit is left as it was, so the
// sandboxed tasks the agent starts set their own.

/** `RLIMIT_DATA` on Linux (x86-64 and arm64 alike). */
const RLIMIT_DATA = 2;
const UNLIMITED = 0xffff_ffff_ffff_ffffn;

/** Share of the machine's memory a model run may take when no limit is configured. */
export const DEFAULT_MODEL_MEMORY_SHARE = 0.75;

/** What `capProcessMemory` set. */
export interface MemoryCap {
  /** The soft data limit now in force (bytes). */
  limitBytes: number;
  /** The process's data segment when it was set (bytes). */
  baselineBytes: number;
  /** What a model run may add to it (bytes). */
  modelBytes: number;
}

let libc: ReturnType<typeof openLibc> | undefined;

function openLibc() {
  return dlopen("libc.so.6", {
    getrlimit: { args: ["i32", "ptr"], returns: "i32" },
    setrlimit: { args: ["i32", "ptr"], returns: "i32" },
  }).symbols;
}

/** The size of the process's data segment now (`VmData`, bytes). */
export function dataSegmentBytes(): number {
  const m = /^VmData:\s+(\d+) kB$/m.exec(readFileSync("/proc/self/status", "utf8"));
  if (!m) throw new RuntimeError("INTERNAL", "VmData is missing from /proc/self/status");
  return Number(m[1]) * 1024;
}

/** The data segment's soft and hard limits (bytes; `Infinity` when unlimited). */
export function dataLimit(): { soft: number; hard: number } {
  libc ??= openLibc();
  const buf = new BigUint64Array(2);
  if (libc.getrlimit(RLIMIT_DATA, ptr(buf)) !== 0) throw new RuntimeError("INTERNAL", "getrlimit failed");
  const n = (x: bigint | undefined) => (x === undefined || x === UNLIMITED ? Infinity : Number(x));
  return { soft: n(buf[0]), hard: n(buf[1]) };
}

/** Memory a model run may take when none is configured: a share of the machine's. */
export function defaultModelMemoryBytes(): number {
  return Math.floor(totalmem() * DEFAULT_MODEL_MEMORY_SHARE);
}

/**
 * Lets the process's data segment grow by at most `modelBytes` beyond its size now (never
 * above the hard limit), so that a model run allocating more fails instead of taking the
 * machine's memory. Process-wide: call it once, at start-up, before serving.
 */
export function capProcessMemory(modelBytes: number): MemoryCap {
  if (!Number.isSafeInteger(modelBytes) || modelBytes <= 0)
    throw new RuntimeError(
      "INTERNAL",
      `a memory limit must be a positive number of bytes, not ${modelBytes}`,
    );
  libc ??= openLibc();
  const baselineBytes = dataSegmentBytes();
  const { hard } = dataLimit();
  const limitBytes = Math.min(baselineBytes + modelBytes, hard);
  const buf = new BigUint64Array([BigInt(limitBytes), hard === Infinity ? UNLIMITED : BigInt(hard)]);
  if (libc.setrlimit(RLIMIT_DATA, ptr(buf)) !== 0) throw new RuntimeError("INTERNAL", "setrlimit failed");
  return { limitBytes, baselineBytes, modelBytes };
}

/** Whether an error from onnxruntime (or the inference thread) is an allocation that failed. */
export function isOutOfMemory(message: string): boolean {
  return /Failed to allocate memory|bad_alloc|Out of memory|Cannot allocate memory/i.test(message);
}

import type { Tensor } from "@ncn/protocol";

export interface Tolerance {
  /** Relative tolerance, default 1e-3. */
  rtol?: number;
  /** Absolute tolerance, default 1e-4. */
  atol?: number;
}

export interface CompareResult {
  equal: boolean;
  /** Why not, naming the tensor and the first differing element. */
  reason?: string;
  maxAbsDiff: number;
}

/**
 * Compares two sets of output tensors within a tolerance: float outputs differ in the
 * last digits across hardware, so a validator re-running a model compares this way,
 * never by hash. Integer and bool tensors must be equal.
 *
 * @example tensorsClose(expected, actual, { rtol: 1e-3, atol: 1e-4 }).equal
 */
export function tensorsClose(
  expected: Record<string, Tensor>,
  actual: Record<string, Tensor>,
  tolerance: Tolerance = {},
): CompareResult {
  const rtol = tolerance.rtol ?? 1e-3;
  const atol = tolerance.atol ?? 1e-4;
  let maxAbsDiff = 0;
  const names = Object.keys(expected).sort();
  const other = Object.keys(actual).sort();
  if (names.join("\u0000") !== other.join("\u0000")) {
    return { equal: false, reason: `tensor names differ: [${names}] vs [${other}]`, maxAbsDiff: Infinity };
  }
  for (const name of names) {
    const a = expected[name];
    const b = actual[name];
    if (!a || !b) continue;
    if (a.dtype !== b.dtype)
      return { equal: false, reason: `${name}: dtype ${a.dtype} vs ${b.dtype}`, maxAbsDiff };
    if (a.dims.join(",") !== b.dims.join(",")) {
      return { equal: false, reason: `${name}: dims [${a.dims}] vs [${b.dims}]`, maxAbsDiff };
    }
    const half = a.dtype === "float16";
    const float = half || a.dtype === "float32" || a.dtype === "float64";
    for (let i = 0; i < a.data.length; i++) {
      const x = half ? halfToNumber(Number(a.data[i])) : Number(a.data[i]);
      const y = half ? halfToNumber(Number(b.data[i])) : Number(b.data[i]);
      if (Number.isNaN(x) && Number.isNaN(y)) continue;
      const diff = Math.abs(x - y);
      if (diff > maxAbsDiff) maxAbsDiff = diff;
      const ok = float ? diff <= atol + rtol * Math.abs(x) : a.data[i] === b.data[i];
      if (!ok) return { equal: false, reason: `${name}[${i}]: ${x} vs ${y}`, maxAbsDiff };
    }
  }
  return { equal: true, maxAbsDiff };
}

/** IEEE 754 half precision bits to a number. */
function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 31) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

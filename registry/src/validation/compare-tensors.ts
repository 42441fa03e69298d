import type { Tensor, TensorData } from "@ncn/protocol";

export interface Tolerance {
  /** Absolute tolerance. */
  atol: number;
  /** Relative tolerance, times |expected|. */
  rtol: number;
}

export type TensorComparison =
  | { ok: true; maxAbsDiff: number }
  | { ok: false; reason: string; tensor?: string; maxAbsDiff?: number };

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * 2 ** -14 * (frac / 1024);
  if (exp === 0x1f) return frac === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * 2 ** (exp - 15) * (1 + frac / 1024);
}

function valueAt(t: Tensor, i: number): number {
  const x = (t.data as TensorData)[i];
  if (typeof x === "bigint") return Number(x);
  if (x === undefined) return Number.NaN;
  return t.dtype === "float16" ? halfToFloat(x) : x;
}

const FLOAT_DTYPES = new Set(["float16", "float32", "float64"]);

/**
 * Compares a validator's re-execution (`expected`) with an agent's outputs (`actual`):
 * same names, dtypes and dims; integers and booleans exactly; floats element-wise within
 * `atol + rtol * |expected|`. Float outputs differ across hardware in the last digits, so
 * they are never compared by hash.
 */
export function compareTensors(
  expected: Record<string, Tensor>,
  actual: Record<string, Tensor>,
  tol: Tolerance,
): TensorComparison {
  const names = Object.keys(expected).sort();
  const actualNames = Object.keys(actual).sort();
  if (names.join("\u0000") !== actualNames.join("\u0000")) {
    return { ok: false, reason: `output names differ: expected [${names}], got [${actualNames}]` };
  }
  let maxAbsDiff = 0;
  for (const name of names) {
    const e = expected[name];
    const a = actual[name];
    if (!e || !a) return { ok: false, reason: "missing output", tensor: name };
    if (e.dtype !== a.dtype) return { ok: false, reason: `dtype ${a.dtype} != ${e.dtype}`, tensor: name };
    if (e.dims.join(",") !== a.dims.join(",")) {
      return { ok: false, reason: `dims [${a.dims}] != [${e.dims}]`, tensor: name };
    }
    const n = e.data.length;
    const float = FLOAT_DTYPES.has(e.dtype);
    for (let i = 0; i < n; i++) {
      const x = valueAt(e, i);
      const y = valueAt(a, i);
      if (!float) {
        if (x !== y) return { ok: false, reason: `element ${i} is ${y}, expected ${x}`, tensor: name };
        continue;
      }
      if (x === y) continue;
      if (Number.isNaN(x) || Number.isNaN(y)) {
        if (Number.isNaN(x) && Number.isNaN(y)) continue;
        return { ok: false, reason: `element ${i} is ${y}, expected ${x}`, tensor: name };
      }
      const diff = Math.abs(x - y);
      if (diff > maxAbsDiff) maxAbsDiff = diff;
      if (!(diff <= tol.atol + tol.rtol * Math.abs(x))) {
        return {
          ok: false,
          reason: `element ${i} is ${y}, expected ${x} (|diff| ${diff})`,
          tensor: name,
          maxAbsDiff,
        };
      }
    }
  }
  return { ok: true, maxAbsDiff };
}

import * as v from "valibot";
import { ProtocolError } from "./errors.ts";

/** Element types a tensor may carry on the wire (little-endian in every encoding). */
export const DTYPES = [
  "float32",
  "float64",
  "float16",
  "int8",
  "uint8",
  "int16",
  "uint16",
  "int32",
  "uint32",
  "int64",
  "uint64",
  "bool",
] as const;
export const Dtype = v.picklist(DTYPES, "expected a tensor dtype");
export type Dtype = v.InferOutput<typeof Dtype>;

export const BYTES_PER_ELEMENT: Record<Dtype, number> = {
  float32: 4,
  float64: 8,
  float16: 2,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
};

/** Largest tensor accepted anywhere on the wire (elements), 64 Mi. */
export const MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024;
export const MAX_DIMS = 8;

export type TypedArrayOf<D extends Dtype> = D extends "float32"
  ? Float32Array
  : D extends "float64"
    ? Float64Array
    : D extends "float16" | "uint16"
      ? Uint16Array
      : D extends "int8"
        ? Int8Array
        : D extends "uint8" | "bool"
          ? Uint8Array
          : D extends "int16"
            ? Int16Array
            : D extends "int32"
              ? Int32Array
              : D extends "uint32"
                ? Uint32Array
                : D extends "int64"
                  ? BigInt64Array
                  : BigUint64Array;

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array;

/** A decoded tensor: dtype, shape and a typed array of exactly prod(dims) elements. */
export interface Tensor {
  dtype: Dtype;
  dims: number[];
  data: TensorData;
}

const Dims = v.pipe(
  v.array(v.pipe(v.number(), v.integer("dims must be integers"), v.minValue(0, "dims must be >= 0"))),
  v.maxLength(MAX_DIMS, `at most ${MAX_DIMS} dims`),
);

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** JSON form of a tensor: `{ dtype, dims, data }`, data = base64 of the little-endian bytes. */
export const TensorJson = v.pipe(
  v.object({
    dtype: Dtype,
    dims: Dims,
    data: v.pipe(v.string(), v.regex(BASE64, "data must be base64")),
  }),
  v.check(
    (t) => elementCount(t.dims) <= MAX_TENSOR_ELEMENTS,
    `tensor larger than ${MAX_TENSOR_ELEMENTS} elements`,
  ),
  v.check(
    (t) => base64ByteLength(t.data) === elementCount(t.dims) * BYTES_PER_ELEMENT[t.dtype],
    "data length does not match dtype and dims",
  ),
);
export type TensorJson = v.InferOutput<typeof TensorJson>;

/** Named tensors as the inputs or outputs of a model. */
export const TensorMapJson = v.record(
  v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9_.:/-]{1,128}$/, "tensor names are 1-128 chars of [A-Za-z0-9_.:/-]"),
  ),
  TensorJson,
);
export type TensorMapJson = v.InferOutput<typeof TensorMapJson>;

/** Integer ranges of the dtypes a `values` tensor may use (float16 takes base64 `data`). */
const INT_RANGE: Partial<Record<Dtype, readonly [number, number]>> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-2147483648, 2147483647],
  uint32: [0, 4294967295],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
  bool: [0, 1],
};

/** What is wrong with `values` as elements of `dtype`, or undefined. */
function valuesProblem(dtype: Dtype, values: readonly (number | boolean)[]): string | undefined {
  if (dtype === "float16") return "float16 tensors take base64 data, not values";
  const range = INT_RANGE[dtype];
  for (let i = 0; i < values.length; i++) {
    const x = values[i];
    if (typeof x === "boolean") {
      if (dtype !== "bool") return `values[${i}] is a boolean, the dtype is ${dtype}`;
      continue;
    }
    if (!Number.isFinite(x)) return `values[${i}] is not a finite number`;
    if (range && (!Number.isInteger(x) || (x as number) < range[0] || (x as number) > range[1]))
      return `values[${i}] = ${x} is not a ${dtype}`;
  }
  return undefined;
}

function typedArrayOfValues(dtype: Dtype, values: readonly (number | boolean)[]): TensorData {
  const nums = values.map(Number);
  switch (dtype) {
    case "float64":
      return Float64Array.from(nums);
    case "int8":
      return Int8Array.from(nums);
    case "uint8":
    case "bool":
      return Uint8Array.from(nums);
    case "int16":
      return Int16Array.from(nums);
    case "uint16":
      return Uint16Array.from(nums);
    case "int32":
      return Int32Array.from(nums);
    case "uint32":
      return Uint32Array.from(nums);
    case "int64":
      return BigInt64Array.from(nums, (x) => BigInt(x));
    case "uint64":
      return BigUint64Array.from(nums, (x) => BigInt(x));
    default:
      return Float32Array.from(nums);
  }
}

/**
 * A tensor written out as numbers, row-major: `{ dtype?, dims, values }` (dtype defaults to
 * float32; bool takes true/false or 0/1). Parsed into the base64 form, so what follows sees
 * one form only.
 */
export const TensorValuesJson = v.pipe(
  v.object({
    dtype: v.optional(Dtype, "float32"),
    dims: Dims,
    values: v.pipe(
      v.array(v.union([v.number(), v.boolean()], "values must be numbers")),
      v.maxLength(MAX_TENSOR_ELEMENTS, `tensor larger than ${MAX_TENSOR_ELEMENTS} elements`),
    ),
  }),
  v.check((t) => t.values.length === elementCount(t.dims), "values length does not match dims"),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const problem = valuesProblem(dataset.value.dtype, dataset.value.values);
    if (problem) addIssue({ message: problem });
  }),
  v.transform(
    (t): TensorJson => ({
      dtype: t.dtype,
      dims: [...t.dims],
      data: bytesToBase64(bytesOf(typedArrayOfValues(t.dtype, t.values))),
    }),
  ),
);

/** A tensor as a client may send it: base64 `data`, or `values` (see {@link TensorValuesJson}). */
export const TensorInputJson = v.lazy((input) =>
  typeof input === "object" && input !== null && "values" in input ? TensorValuesJson : TensorJson,
);

/** Named input tensors of a request, in either form; the output is always the base64 form. */
export const TensorInputMapJson = v.record(
  v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9_.:/-]{1,128}$/, "tensor names are 1-128 chars of [A-Za-z0-9_.:/-]"),
  ),
  TensorInputJson,
);

export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

function base64ByteLength(b64: string): number {
  if (b64.length % 4 !== 0) return -1;
  const pad = b64.endsWith("==") ? 2 : b64.endsWith("=") ? 1 : 0;
  return (b64.length / 4) * 3 - pad;
}

/** Allocates a typed array of the right class for a dtype over a copy of `bytes`. */
export function typedArrayFor(dtype: Dtype, bytes: Uint8Array): TensorData {
  const width = BYTES_PER_ELEMENT[dtype];
  if (bytes.byteLength % width !== 0) {
    throw new ProtocolError(
      "TENSOR_INVALID",
      `byte length ${bytes.byteLength} is not a multiple of ${width}`,
    );
  }
  // Copy so the result is aligned and owns its memory.
  const buf = bytes.slice().buffer;
  switch (dtype) {
    case "float32":
      return new Float32Array(buf);
    case "float64":
      return new Float64Array(buf);
    case "float16":
    case "uint16":
      return new Uint16Array(buf);
    case "int8":
      return new Int8Array(buf);
    case "uint8":
    case "bool":
      return new Uint8Array(buf);
    case "int16":
      return new Int16Array(buf);
    case "int32":
      return new Int32Array(buf);
    case "uint32":
      return new Uint32Array(buf);
    case "int64":
      return new BigInt64Array(buf);
    case "uint64":
      return new BigUint64Array(buf);
  }
}

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/** Checks a decoded tensor's invariants; throws `TENSOR_INVALID` naming the problem. */
export function assertTensor(t: Tensor): void {
  if (t.dims.length > MAX_DIMS) throw new ProtocolError("TENSOR_INVALID", `at most ${MAX_DIMS} dims`);
  const n = elementCount(t.dims);
  if (n > MAX_TENSOR_ELEMENTS) throw new ProtocolError("TENSOR_INVALID", "tensor too large");
  if (t.data.byteLength !== n * BYTES_PER_ELEMENT[t.dtype]) {
    throw new ProtocolError(
      "TENSOR_INVALID",
      `data has ${t.data.byteLength} bytes, dims need ${n * BYTES_PER_ELEMENT[t.dtype]}`,
    );
  }
}

export function bytesToBase64(bytes: Uint8Array): string {
  let s = "";
  const CHUNK = 0x8000;
  for (let i = 0; i < bytes.length; i += CHUNK) {
    s += String.fromCharCode(...bytes.subarray(i, i + CHUNK));
  }
  return btoa(s);
}

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** @example tensorToJson({ dtype: "float32", dims: [2], data: new Float32Array([1, 2]) }) */
export function tensorToJson(t: Tensor): TensorJson {
  assertTensor(t);
  return { dtype: t.dtype, dims: [...t.dims], data: bytesToBase64(bytesOf(t.data)) };
}

export function tensorFromJson(j: TensorJson): Tensor {
  return { dtype: j.dtype, dims: [...j.dims], data: typedArrayFor(j.dtype, base64ToBytes(j.data)) };
}

/** Decodes a map of named tensors (model inputs or outputs). */
export function tensorMapFromJson(map: TensorMapJson): Record<string, Tensor> {
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(map)) out[name] = tensorFromJson(t);
  return out;
}

// ---- binary frame -------------------------------------------------------------
// A compact frame for a set of named tensors:
//   magic "NCNT" | version u8 | count u16
//   per tensor: nameLen u16 | name utf8 | dtype u8 | ndim u8 | dims u32 x ndim |
//               byteLength u32 | zero padding to 8 | data
// All integers little-endian; data starts 8-byte aligned relative to the frame.

const MAGIC = [0x4e, 0x43, 0x4e, 0x54];
const FRAME_VERSION = 1;
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false });

export function encodeTensorFrame(tensors: Record<string, Tensor>): Uint8Array {
  const entries = Object.entries(tensors);
  if (entries.length > 0xffff) throw new ProtocolError("TENSOR_INVALID", "too many tensors in one frame");
  const names = entries.map(([name]) => encoder.encode(name));
  let size = 7;
  entries.forEach(([, t], i) => {
    assertTensor(t);
    size += 2 + (names[i]?.length ?? 0) + 2 + 4 * t.dims.length + 4;
    size = align8(size) + t.data.byteLength;
  });
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  out.set(MAGIC, 0);
  view.setUint8(4, FRAME_VERSION);
  view.setUint16(5, entries.length, true);
  let off = 7;
  entries.forEach(([, t], i) => {
    const name = names[i] ?? new Uint8Array();
    if (name.length > 0xffff) throw new ProtocolError("TENSOR_INVALID", "tensor name too long");
    view.setUint16(off, name.length, true);
    out.set(name, off + 2);
    off += 2 + name.length;
    view.setUint8(off, DTYPES.indexOf(t.dtype));
    view.setUint8(off + 1, t.dims.length);
    off += 2;
    for (const d of t.dims) {
      view.setUint32(off, d, true);
      off += 4;
    }
    view.setUint32(off, t.data.byteLength, true);
    off = align8(off + 4);
    out.set(bytesOf(t.data), off);
    off += t.data.byteLength;
  });
  return out;
}

export function decodeTensorFrame(frame: Uint8Array): Record<string, Tensor> {
  const fail = (why: string): never => {
    throw new ProtocolError("TENSOR_INVALID", `bad tensor frame: ${why}`);
  };
  if (frame.length < 7 || MAGIC.some((b, i) => frame[i] !== b)) fail("missing NCNT magic");
  const view = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  if (view.getUint8(4) !== FRAME_VERSION) fail(`unsupported version ${view.getUint8(4)}`);
  const count = view.getUint16(5, true);
  const out: Record<string, Tensor> = {};
  let off = 7;
  const need = (n: number) => {
    if (off + n > frame.length) fail("truncated");
  };
  for (let i = 0; i < count; i++) {
    need(2);
    const nameLen = view.getUint16(off, true);
    need(2 + nameLen + 2);
    let name = "";
    try {
      name = decoder.decode(frame.subarray(off + 2, off + 2 + nameLen));
    } catch {
      fail("tensor name is not UTF-8");
    }
    off += 2 + nameLen;
    const dtype = DTYPES[view.getUint8(off)] ?? fail(`unknown dtype code ${view.getUint8(off)}`);
    const ndim = view.getUint8(off + 1);
    if (ndim > MAX_DIMS) fail(`too many dims (${ndim})`);
    off += 2;
    need(4 * ndim + 4);
    const dims: number[] = [];
    for (let d = 0; d < ndim; d++) {
      dims.push(view.getUint32(off, true));
      off += 4;
    }
    const byteLength = view.getUint32(off, true);
    off = align8(off + 4);
    if (elementCount(dims) > MAX_TENSOR_ELEMENTS) fail("tensor too large");
    if (byteLength !== elementCount(dims) * BYTES_PER_ELEMENT[dtype])
      fail(`byte length of "${name}" does not match dims`);
    need(byteLength);
    if (Object.hasOwn(out, name)) fail(`duplicate tensor name "${name}"`);
    out[name] = { dtype, dims, data: typedArrayFor(dtype, frame.subarray(off, off + byteLength)) };
    off += byteLength;
  }
  if (off !== frame.length) fail("trailing bytes");
  return out;
}

function align8(n: number): number {
  return (n + 7) & ~7;
}

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as v from "valibot";
import { BaseError } from "./errors.ts";
import {
  BYTES_PER_ELEMENT,
  DTYPES,
  type Dtype,
  decodeTensorFrame,
  elementCount,
  encodeTensorFrame,
  type Tensor,
  TensorInputMapJson,
  TensorJson,
  tensorFromJson,
  tensorToJson,
  typedArrayFor,
} from "./tensor.ts";

function tensorArb(dtype: Dtype): fc.Arbitrary<Tensor> {
  return fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 0, maxLength: 4 }).chain((dims) =>
    fc
      .uint8Array({
        minLength: elementCount(dims) * BYTES_PER_ELEMENT[dtype],
        maxLength: elementCount(dims) * BYTES_PER_ELEMENT[dtype],
      })
      .map((bytes) => ({ dtype, dims, data: typedArrayFor(dtype, bytes) })),
  );
}

function sameBytes(a: Tensor, b: Tensor): boolean {
  const x = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const y = new Uint8Array(b.data.buffer, b.data.byteOffset, b.data.byteLength);
  return x.length === y.length && x.every((byte, i) => byte === y[i]);
}

describe("tensors", () => {
  for (const dtype of DTYPES) {
    test(`${dtype}: JSON and binary frame round-trip`, () => {
      fc.assert(
        fc.property(fc.array(tensorArb(dtype), { minLength: 1, maxLength: 3 }), (tensors) => {
          const named: Record<string, Tensor> = {};
          tensors.forEach((t, i) => {
            named[`t${i}`] = t;
          });
          for (const t of tensors) {
            const json = v.parse(TensorJson, JSON.parse(JSON.stringify(tensorToJson(t))));
            const back = tensorFromJson(json);
            expect(back.dtype).toBe(dtype);
            expect(back.dims).toEqual(t.dims);
            expect(back.data.constructor).toBe(t.data.constructor);
            expect(sameBytes(back, t)).toBe(true);
          }
          const decoded = decodeTensorFrame(encodeTensorFrame(named));
          expect(Object.keys(decoded)).toEqual(Object.keys(named));
          for (const [name, t] of Object.entries(named)) {
            const d = decoded[name];
            expect(d?.dims).toEqual(t.dims);
            expect(d && sameBytes(d, t)).toBe(true);
          }
        }),
        { numRuns: 40 },
      );
    });
  }

  test("float32 values survive exactly, including NaN and -0", () => {
    const data = new Float32Array([1.5, -0, Number.NaN, Number.POSITIVE_INFINITY, 3.4e38]);
    const back = tensorFromJson(tensorToJson({ dtype: "float32", dims: [5], data }));
    expect(Array.from(back.data as Float32Array)).toEqual(Array.from(data));
    expect(Object.is((back.data as Float32Array)[1], -0)).toBe(true);
  });

  test("JSON rejects data that does not match dims, naming the problem", () => {
    const r = v.safeParse(TensorJson, { dtype: "float32", dims: [3], data: btoa("12345678") });
    expect(r.success).toBe(false);
    expect(r.issues?.[0]?.message).toContain("data length does not match");
    const bad = v.safeParse(TensorJson, { dtype: "complex64", dims: [1], data: "AAAAAA==" });
    expect(bad.success).toBe(false);
    expect(bad.issues?.[0]?.path?.[0]?.key).toBe("dtype");
    const neg = v.safeParse(TensorJson, { dtype: "uint8", dims: [-1], data: "" });
    expect(neg.success).toBe(false);
  });

  test("a corrupt binary frame raises TENSOR_INVALID, never returns garbage", () => {
    const good = encodeTensorFrame({
      x: { dtype: "int32", dims: [2, 2], data: new Int32Array([1, 2, 3, 4]) },
    });
    const cases: Uint8Array[] = [
      good.subarray(0, good.length - 1),
      Uint8Array.from([...good, 0]),
      Uint8Array.from(good).fill(0, 0, 4),
      (() => {
        const c = Uint8Array.from(good);
        c[10] = 200; // dtype code
        return c;
      })(),
    ];
    for (const c of cases) {
      try {
        decodeTensorFrame(c);
        throw new Error("decoded a corrupt frame");
      } catch (e) {
        expect(e).toBeInstanceOf(BaseError);
        expect((e as BaseError).code).toBe("TENSOR_INVALID");
      }
    }
  });

  test("random bytes never crash the frame decoder", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        try {
          decodeTensorFrame(Uint8Array.from([0x4e, 0x43, 0x4e, 0x54, 1, ...bytes]));
        } catch (e) {
          expect((e as BaseError).code).toBe("TENSOR_INVALID");
        }
      }),
      { numRuns: 300 },
    );
  });

  test("tensor data in a frame is 8-byte aligned", () => {
    const frame = encodeTensorFrame({ abc: { dtype: "float64", dims: [1], data: new Float64Array([42]) } });
    // header 7 + name 2+3 + dtype/ndim 2 + dims 4 + length 4 = 22 -> aligned to 24
    expect(new DataView(frame.buffer).getFloat64(24, true)).toBe(42);
  });
});

describe("tensors written as values", () => {
  const parse = (t: unknown) => v.safeParse(TensorInputMapJson, { x: t });
  const messages = (t: unknown) => {
    const r = parse(t);
    return r.success ? [] : r.issues.map((i) => i.message);
  };

  test("parse to the base64 form, with the same elements", () => {
    const cases = [
      { dtype: "float32", values: [1, -2.5, 3, 4], arr: new Float32Array([1, -2.5, 3, 4]) },
      { dtype: "float64", values: [0.1, 2], arr: new Float64Array([0.1, 2]) },
      { dtype: "int8", values: [-128, 127], arr: new Int8Array([-128, 127]) },
      { dtype: "uint32", values: [0, 4294967295], arr: new Uint32Array([0, 4294967295]) },
      { dtype: "int64", values: [-5, 2 ** 40], arr: new BigInt64Array([-5n, 2n ** 40n]) },
      { dtype: "bool", values: [true, false, 1, 0], arr: new Uint8Array([1, 0, 1, 0]) },
    ] as const;
    for (const c of cases) {
      const r = parse({ dtype: c.dtype, dims: [c.values.length], values: c.values });
      expect(r.success).toBe(true);
      if (!r.success) continue;
      const t = tensorFromJson(r.output.x as TensorJson);
      expect(t.dtype).toBe(c.dtype);
      expect(Array.from(t.data as ArrayLike<number | bigint>)).toEqual(
        Array.from(c.arr as ArrayLike<number | bigint>),
      );
    }
  });

  test("dtype defaults to float32, and the base64 form still parses as before", () => {
    const r = parse({ dims: [1, 2], values: [1, 2] });
    expect(r.success && r.output.x).toEqual(
      tensorToJson({ dtype: "float32", dims: [1, 2], data: new Float32Array([1, 2]) }),
    );
    const b64 = tensorToJson({ dtype: "int32", dims: [2], data: new Int32Array([7, 8]) });
    const again = parse(b64);
    expect(again.success && again.output.x).toEqual(b64);
  });

  test("wrong values are refused with the reason", () => {
    expect(messages({ dims: [2, 2], values: [1, 2, 3] })).toEqual(["values length does not match dims"]);
    expect(messages({ dtype: "int8", dims: [1], values: [300] })).toEqual(["values[0] = 300 is not a int8"]);
    expect(messages({ dtype: "int32", dims: [1], values: [1.5] })).toEqual([
      "values[0] = 1.5 is not a int32",
    ]);
    expect(messages({ dtype: "float32", dims: [1], values: [true] })).toEqual([
      "values[0] is a boolean, the dtype is float32",
    ]);
    expect(messages({ dtype: "float16", dims: [1], values: [1] })).toEqual([
      "float16 tensors take base64 data, not values",
    ]);
    expect(messages({ dims: [1], values: ["1"] })).toEqual(["values must be numbers"]);
    expect(messages({ dtype: "float32", dims: [2], data: "AAAA" })).toEqual([
      "data length does not match dtype and dims",
    ]);
  });
});

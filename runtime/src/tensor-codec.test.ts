import { expect, test } from "bun:test";
import { type Tensor, tensorFromJson, tensorToJson } from "@ncn/protocol";
import { decodeTensorJson, encodeTensorJson } from "./tensor-codec.ts";

test("native base64 codec gives exactly the protocol's tensor JSON", () => {
  const tensors: Tensor[] = [
    { dtype: "float32", dims: [2, 3], data: Float32Array.from([1.5, -2, 3.25, 0, Number.NaN, 1e-30]) },
    { dtype: "int64", dims: [2], data: BigInt64Array.from([-1n, 2n ** 60n]) },
    { dtype: "uint8", dims: [5], data: Uint8Array.from([0, 1, 254, 255, 7]) },
    { dtype: "float16", dims: [0], data: new Uint16Array(0) },
  ];
  // A view into a larger buffer must encode only its own bytes.
  const big = new Float32Array(10).map((_, i) => i);
  tensors.push({ dtype: "float32", dims: [3], data: big.subarray(4, 7) });
  for (const t of tensors) {
    const mine = encodeTensorJson(t);
    expect(mine).toEqual(tensorToJson(t));
    const back = decodeTensorJson(mine);
    const ref = tensorFromJson(mine);
    expect([back.dtype, back.dims, back.data.constructor]).toEqual([
      ref.dtype,
      ref.dims,
      ref.data.constructor,
    ]);
    const bytes = (x: Tensor) => Buffer.from(x.data.buffer, x.data.byteOffset, x.data.byteLength);
    expect(bytes(back).equals(bytes(ref))).toBe(true);
    expect(back.data.byteOffset % 8).toBe(0);
  }
});

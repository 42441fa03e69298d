import { assertTensor, type Tensor, type TensorJson, typedArrayFor } from "@ncn/protocol";

/**
 * The protocol's tensor JSON codec with the base64 step done natively (Buffer) instead
 * of in JavaScript: same output, an order of magnitude faster on large tensors. Inputs
 * must already have passed the protocol schema (valid base64, length matching dims).
 */
export function encodeTensorJson(t: Tensor): TensorJson {
  assertTensor(t);
  const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return { dtype: t.dtype, dims: [...t.dims], data: bytes.toString("base64") };
}

export function decodeTensorJson(j: TensorJson): Tensor {
  const buf = Buffer.from(j.data, "base64");
  return { dtype: j.dtype, dims: [...j.dims], data: typedArrayFor(j.dtype, buf) };
}

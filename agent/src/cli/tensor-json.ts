import {
  BYTES_PER_ELEMENT,
  Dtype,
  elementCount,
  MAX_TENSOR_ELEMENTS,
  parseJson,
  parseOrThrow,
  type Tensor,
  TensorJson,
  tensorFromJson,
  typedArrayFor,
} from "@ncn/protocol";
import * as v from "valibot";

/** A tensor written by hand: `{ "dtype": "float32", "dims": [1, 4], "values": [1, 2, 3, 4] }`. */
const ValuesTensor = v.pipe(
  v.object({
    dtype: Dtype,
    dims: v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0))), v.maxLength(8)),
    values: v.array(v.union([v.number(), v.boolean(), v.string()])),
  }),
  v.check((t) => elementCount(t.dims) <= MAX_TENSOR_ELEMENTS, "tensor too large"),
  v.check((t) => t.values.length === elementCount(t.dims), "values must hold exactly prod(dims) elements"),
);

const CliInputs = v.record(v.string(), v.union([TensorJson, ValuesTensor]));

function fromValues(t: v.InferOutput<typeof ValuesTensor>): Tensor {
  const data = typedArrayFor(t.dtype, new Uint8Array(t.values.length * BYTES_PER_ELEMENT[t.dtype]));
  t.values.forEach((x, i) => {
    if (data instanceof BigInt64Array || data instanceof BigUint64Array) data[i] = BigInt(x);
    else data[i] = Number(x);
  });
  return { dtype: t.dtype, dims: t.dims, data };
}

/** Parses `--input` JSON: named tensors as `{dtype, dims, values}` or `{dtype, dims, data: base64}`. */
export function parseCliInputs(text: string): Record<string, Tensor> {
  const map = parseOrThrow(CliInputs, parseJson(text, "--input"), "--input");
  const out: Record<string, Tensor> = {};
  for (const [name, t] of Object.entries(map)) out[name] = "values" in t ? fromValues(t) : tensorFromJson(t);
  return out;
}

/** A tensor as readable JSON (`values` as numbers; 64-bit integers beyond 2^53 as strings). */
export function tensorToValues(t: Tensor): { dtype: string; dims: number[]; values: (number | string)[] } {
  const values = Array.from(t.data as ArrayLike<number | bigint>, (x) =>
    typeof x === "bigint"
      ? x <= BigInt(Number.MAX_SAFE_INTEGER) && x >= -BigInt(Number.MAX_SAFE_INTEGER)
        ? Number(x)
        : x.toString()
      : x,
  );
  return { dtype: t.dtype, dims: t.dims, values };
}

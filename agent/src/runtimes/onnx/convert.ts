import type { Dtype, Tensor } from "@ncn/protocol";
import { DTYPES } from "@ncn/protocol";
import { AgentError } from "../../errors.ts";
import type { Ort, OrtTensor } from "./ort.ts";

const SUPPORTED = new Set<string>(DTYPES);

/** A protocol tensor as an onnxruntime tensor, sharing its memory. */
export function toOrtTensor(ort: Ort, t: Tensor): OrtTensor {
  // The protocol's dtype names are onnxruntime's; the typed array classes agree too.
  return new ort.Tensor(t.dtype, t.data as never, t.dims);
}

/** An onnxruntime output as a protocol tensor; string and exotic types are refused. */
export function fromOrtTensor(name: string, t: OrtTensor): Tensor {
  if (!SUPPORTED.has(t.type)) {
    throw new AgentError("INFERENCE_FAILED", `output "${name}" has unsupported type ${t.type}`);
  }
  const data = t.data;
  if (typeof data === "string" || Array.isArray(data) || !ArrayBuffer.isView(data)) {
    throw new AgentError("INFERENCE_FAILED", `output "${name}" is not a numeric tensor`);
  }
  return { dtype: t.type as Dtype, dims: [...t.dims], data: data as Tensor["data"] };
}

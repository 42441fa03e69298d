import type { Dim, ModelDescriptor, Tensor, TensorSpec } from "@ncn/protocol";
import { shapeMatches } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";

type Side = "input" | "output";

function fmt(dims: readonly (Dim | number)[]): string {
  return `[${dims.join(", ")}]`;
}

function check(
  model: string,
  side: Side,
  specs: readonly TensorSpec[],
  tensors: Record<string, Tensor>,
): void {
  const code = side === "input" ? "INVALID_INPUT" : "INFERENCE_FAILED";
  const declared = new Set(specs.map((s) => s.name));
  for (const name of Object.keys(tensors)) {
    if (!declared.has(name)) {
      throw new RuntimeError(code, `model ${model} has no ${side} named "${name}"`, {
        details: { model, tensor: name, expected: [...declared] },
      });
    }
  }
  const allDeclared: Dim[] = [];
  const allActual: number[] = [];
  for (const spec of specs) {
    const t = tensors[spec.name];
    if (!t) {
      throw new RuntimeError(code, `${side} "${spec.name}" of model ${model} is missing`, {
        details: { model, tensor: spec.name },
      });
    }
    if (t.dtype !== spec.dtype) {
      throw new RuntimeError(code, `${side} "${spec.name}" must be ${spec.dtype}, got ${t.dtype}`, {
        details: { model, tensor: spec.name, expected: spec.dtype, actual: t.dtype },
      });
    }
    if (!shapeMatches(spec.dims, t.dims)) {
      throw new RuntimeError(
        code,
        `${side} "${spec.name}" must have shape ${fmt(spec.dims)}, got ${fmt(t.dims)}`,
        { details: { model, tensor: spec.name, expected: spec.dims, actual: t.dims } },
      );
    }
    allDeclared.push(...spec.dims);
    allActual.push(...t.dims);
  }
  // A symbolic axis (e.g. "batch") names one size across every tensor of the same side.
  if (!shapeMatches(allDeclared, allActual)) {
    throw new RuntimeError(code, `${side}s of model ${model} disagree on the size of a named axis`, {
      details: { model, expected: specs.map((s) => s.dims) },
    });
  }
}

/**
 * Checks tensors against a model's declared inputs: every declared input present, no
 * extra ones, dtypes equal, dims fitting (symbolic axes bound consistently).
 *
 * @example checkInputs(descriptor, { x: { dtype: "float32", dims: [1, 4], data } })
 */
export function checkInputs(
  desc: Pick<ModelDescriptor, "id" | "inputs">,
  inputs: Record<string, Tensor>,
): void {
  check(desc.id, "input", desc.inputs, inputs);
}

/** Checks a model's outputs against its descriptor: a mismatch means the model is not what it claims. */
export function checkOutputs(
  desc: Pick<ModelDescriptor, "id" | "outputs">,
  outputs: Record<string, Tensor>,
): void {
  check(desc.id, "output", desc.outputs, outputs);
}

import * as v from "valibot";
import { ModelId, Sha256 } from "./primitives.ts";
import { Dtype } from "./tensor.ts";

/** A dimension is a fixed size or a symbolic axis name such as "batch". */
export const Dim = v.union([
  v.pipe(v.number(), v.integer(), v.minValue(0)),
  v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]{0,31}$/, "symbolic axes are identifiers")),
]);
export type Dim = v.InferOutput<typeof Dim>;

export const TensorSpec = v.object({
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  dtype: Dtype,
  dims: v.pipe(v.array(Dim), v.maxLength(8)),
});
export type TensorSpec = v.InferOutput<typeof TensorSpec>;

export const ModelRuntime = v.picklist(["onnx", "python"], "runtime must be 'onnx' or 'python'");
export type ModelRuntime = v.InferOutput<typeof ModelRuntime>;

/**
 * The task kind a model serves: `tensor` (named tensors, the default), `ocr`, `embed`,
 * `generate`, `transcribe`. The OpenAI-compatible routes offer a model only for its kind (a chat request
 * to an embedding model is refused before anything runs).
 */
export const ModelTask = v.picklist(
  ["tensor", "ocr", "embed", "generate", "transcribe"],
  "task must be tensor, ocr, embed, generate or transcribe",
);
export type ModelTask = v.InferOutput<typeof ModelTask>;

/** Where the bytes of a model can be fetched: `file:`, `http(s):` or `npm:<package>/<path>`. */
export const ModelSource = v.pipe(
  v.string(),
  v.maxLength(2048),
  v.regex(/^(?:file:|https?:\/\/|npm:)\S+$/, "sources are file:, http(s):// or npm: URLs"),
);

/** Names of a model's inputs or outputs: a name twice would be fed or fetched twice. */
const TensorSpecs = v.pipe(
  v.array(TensorSpec),
  v.maxLength(64),
  v.check((specs) => new Set(specs.map((s) => s.name)).size === specs.length, "tensor names must be unique"),
);

export const ModelDescriptor = v.object({
  id: ModelId,
  /** sha256 of the model file: the content address every agent verifies before use. */
  sha256: Sha256,
  size: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16 * 1024 ** 3)),
  runtime: ModelRuntime,
  sources: v.pipe(v.array(ModelSource), v.minLength(1, "at least one source"), v.maxLength(16)),
  inputs: TensorSpecs,
  outputs: TensorSpecs,
  description: v.optional(v.pipe(v.string(), v.maxLength(500))),
  task: v.optional(ModelTask),
});
export type ModelDescriptor = v.InferOutput<typeof ModelDescriptor>;

/** Does a concrete shape fit a declared one (symbolic axes match any size)? */
export function shapeMatches(declared: readonly Dim[], actual: readonly number[]): boolean {
  if (declared.length !== actual.length) return false;
  const bound = new Map<string, number>();
  for (let i = 0; i < declared.length; i++) {
    const d = declared[i];
    const a = actual[i];
    if (a === undefined || d === undefined) return false;
    if (typeof d === "number") {
      if (d !== a) return false;
    } else {
      const prev = bound.get(d);
      if (prev !== undefined && prev !== a) return false;
      bound.set(d, a);
    }
  }
  return true;
}

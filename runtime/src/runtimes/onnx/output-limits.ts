import { BYTES_PER_ELEMENT } from "@ncn/protocol";

/**
 * Bytes per element of each onnxruntime tensor type: the wire's dtypes, plus the types
 * only onnxruntime has (strings count as one byte a character at least).
 */
const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  ...BYTES_PER_ELEMENT,
  bfloat16: 2,
  string: 1,
  int4: 1,
  uint4: 1,
};

/** A model output as onnxruntime's session metadata describes it. */
export interface DeclaredOutput {
  name: string;
  isTensor: boolean;
  type?: string;
  shape?: readonly (number | string)[];
}

/**
 * Bytes of the outputs whose declared shapes are fully known (symbolic axes count as unknown,
 * so as nothing): a model that states larger outputs than the limit can be refused before it runs.
 */
export function declaredOutputBytes(outputs: readonly DeclaredOutput[]): number {
  let total = 0;
  for (const o of outputs) {
    if (!o.isTensor || !o.shape || o.shape.length === 0) continue;
    if (!o.shape.every((d) => typeof d === "number" && d >= 0)) continue;
    const elements = (o.shape as number[]).reduce((a, d) => a * d, 1);
    total += elements * (ELEMENT_BYTES[o.type ?? ""] ?? 1);
  }
  return total;
}

/** Ops whose cost or output size depends on input values, not only on input sizes. */
export const DATA_DEPENDENT_OPS: ReadonlySet<string> = new Set([
  "Loop",
  "Scan",
  "If",
  "Expand",
  "Tile",
  "ConstantOfShape",
  "Range",
  "Resize",
  "Upsample",
  "Pad",
  "OneHot",
  "NonMaxSuppression",
  "NonZero",
  "TopK",
  "Reshape",
  "SequenceConstruct",
  "SequenceInsert",
  "ConcatFromSequence",
  "SplitToSequence",
  "StringNormalizer",
  "TfIdfVectorizer",
]);

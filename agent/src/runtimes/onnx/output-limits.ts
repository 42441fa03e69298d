/** Bytes per element of each onnxruntime tensor type (strings count as one byte a character at least). */
const ELEMENT_BYTES: Readonly<Record<string, number>> = {
  float32: 4,
  float16: 2,
  bfloat16: 2,
  float64: 8,
  int8: 1,
  uint8: 1,
  int16: 2,
  uint16: 2,
  int32: 4,
  uint32: 4,
  int64: 8,
  uint64: 8,
  bool: 1,
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

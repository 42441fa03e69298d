import { ProtocolError } from "./errors.ts";
import type { OcrLine, TaskInput, TaskResult } from "./inference.ts";
import { keccakHex } from "./keccak.ts";
import { type EmbedResult, embeddingBytes } from "./tasks/embed.ts";
import { base64ToBytes, encodeTensorFrame, type Tensor, tensorMapFromJson } from "./tensor.ts";

/**
 * Canonical JSON: object keys sorted by code point, no whitespace, integers and
 * finite numbers only. Two parties that hold equal values produce equal bytes.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value))
        throw new ProtocolError("INVALID_INPUT", "non-finite number in canonical JSON");
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "bigint":
      return JSON.stringify(value.toString());
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
    }
    default:
      throw new ProtocolError("INVALID_INPUT", `cannot encode ${typeof value} in canonical JSON`);
  }
}

/** keccak256 of the canonical JSON of a value. */
export function hashCanonical(value: unknown): `0x${string}` {
  return keccakHex(new TextEncoder().encode(canonicalJson(value)));
}

/**
 * Hash of a set of named tensors: keccak256 of their binary frame with names sorted,
 * so the hash depends on names, dtypes, dims and bytes only.
 */
export function hashTensors(tensors: Record<string, Tensor>): `0x${string}` {
  const sorted: Record<string, Tensor> = {};
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    if (t) sorted[name] = t;
  }
  return keccakHex(encodeTensorFrame(sorted));
}

/** Hash of raw input bytes (an image). */
export function hashBytes(bytes: Uint8Array): `0x${string}` {
  return keccakHex(bytes);
}

/**
 * Hash of OCR output: canonical JSON of the lines with text, and box and score rounded
 * (boxes to whole pixels, scores to 3 decimals) so that the last float digits, which
 * differ across hardware, do not change the hash.
 */
export function hashOcrLines(lines: readonly OcrLine[]): `0x${string}` {
  return hashCanonical(
    lines.map((l) => ({
      text: l.text,
      score: Math.round(l.score * 1000) / 1000,
      box: l.box.map(([x, y]) => [Math.round(x), Math.round(y)]),
    })),
  );
}

/** The receipt's `inputHash` of an embedding task: the texts, in order. */
export function hashEmbedInput(texts: readonly string[]): `0x${string}` {
  return hashCanonical({ kind: "embed", texts });
}

/**
 * The receipt's `outputHash` of an embedding result: its dims, token count and the
 * vectors' bytes (so two base64 spellings of the same floats hash alike). Exact: it binds
 * what the agent returned; a validator compares recomputed vectors by cosine
 * (`verifyEmbeddings` in `@ncn/runtime`), never by this hash.
 */
export function hashEmbedResult(result: EmbedResult): `0x${string}` {
  const bytes = new Uint8Array(result.embeddings.length * result.dims * 4);
  for (const [i, e] of result.embeddings.entries())
    bytes.set(embeddingBytes(e, result.dims), i * result.dims * 4);
  return hashCanonical({
    kind: "embed",
    dims: result.dims,
    promptTokens: result.promptTokens,
    vectors: keccakHex(bytes),
  });
}

/**
 * The receipt's `inputHash` of a task: tensors by `hashTensors`, an OCR image by its
 * bytes, texts to embed by `hashEmbedInput`.
 */
export function hashTaskInput(input: TaskInput): `0x${string}` {
  switch (input.kind) {
    case "tensor":
      return hashTensors(tensorMapFromJson(input.inputs));
    case "ocr":
      return hashBytes(base64ToBytes(input.image));
    case "embed":
      return hashEmbedInput(input.texts);
  }
}

/**
 * The receipt's `outputHash` of a result: tensors by `hashTensors`, OCR lines by
 * `hashOcrLines`, embeddings by `hashEmbedResult`.
 */
export function hashTaskResult(result: TaskResult): `0x${string}` {
  switch (result.kind) {
    case "tensor":
      return hashTensors(tensorMapFromJson(result.outputs));
    case "ocr":
      return hashOcrLines(result.lines);
    case "embed":
      return hashEmbedResult(result);
  }
}

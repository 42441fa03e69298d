import * as v from "valibot";
import { ProtocolError } from "../errors.ts";
import { ModelId } from "../primitives.ts";
import { base64ToBytes, bytesToBase64 } from "../tensor.ts";

/**
 * Bounds of an embedding task. A text is counted in UTF-16 code units (what `String.length`
 * says); the total keeps a full task, with its vectors, far below the frame limit.
 */
export const EMBED_LIMITS = {
  /** Texts in one task. */
  texts: 256,
  /** Characters of one text. */
  textChars: 16_384,
  /** Characters of all texts of a task together. */
  totalChars: 1_048_576,
  /** Components of one vector. */
  dims: 8192,
} as const;

const Text = v.pipe(
  v.string(),
  v.minLength(1, "a text to embed must not be empty"),
  v.maxLength(EMBED_LIMITS.textChars, `a text to embed has at most ${EMBED_LIMITS.textChars} characters`),
);

/** The texts of an embedding task: 1 to 256, each 1 to 16,384 characters, 1 Mi in all. */
export const EmbedTexts = v.pipe(
  v.array(Text),
  v.minLength(1, "at least one text to embed"),
  v.maxLength(EMBED_LIMITS.texts, `at most ${EMBED_LIMITS.texts} texts per task`),
  v.check(
    (texts) => texts.reduce((n, t) => n + t.length, 0) <= EMBED_LIMITS.totalChars,
    `at most ${EMBED_LIMITS.totalChars} characters of text per task`,
  ),
);

/** Embedding: texts in, one vector per text out, in the order given. */
export const EmbedTaskInput = v.object({
  kind: v.literal("embed"),
  model: ModelId,
  texts: EmbedTexts,
});
export type EmbedTaskInput = v.InferOutput<typeof EmbedTaskInput>;

/** Characters of base64 that carry `dims` float32 components (with padding). */
function base64Length(dims: number): number {
  return 4 * Math.ceil((dims * 4) / 3);
}

/**
 * One vector: base64 of its float32 components, little-endian. A third of the size of
 * decimal JSON numbers (which need 9 significant digits to round-trip a float32), exact to
 * the bit, and the encoding tensors already use on the wire.
 */
export const EmbeddingBase64 = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9+/]*={0,2}$/, "an embedding is base64 of little-endian float32"),
);

/** The vectors of an embedding task, one per text, each `dims` float32 components. */
export const EmbedResult = v.pipe(
  v.object({
    kind: v.literal("embed"),
    dims: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(EMBED_LIMITS.dims)),
    embeddings: v.pipe(
      v.array(EmbeddingBase64),
      v.minLength(1, "at least one embedding"),
      v.maxLength(EMBED_LIMITS.texts, `at most ${EMBED_LIMITS.texts} embeddings`),
    ),
    /** Tokens the model read, over all texts (what the task is billed by). */
    promptTokens: v.pipe(v.number(), v.integer(), v.minValue(0)),
  }),
  v.forward(
    v.check(
      (r) => r.embeddings.every((e) => e.length === base64Length(r.dims)),
      "every embedding must hold dims float32 components",
    ),
    ["embeddings"],
  ),
);
export type EmbedResult = v.InferOutput<typeof EmbedResult>;

/**
 * A vector as the wire carries it.
 *
 * @example encodeEmbedding(new Float32Array([0.6, 0.8])) // "mpkZP83MTD8="
 */
export function encodeEmbedding(vector: Float32Array): string {
  const bytes = new Uint8Array(vector.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < vector.length; i++) view.setFloat32(i * 4, vector[i] ?? 0, true);
  return bytesToBase64(bytes);
}

/** The little-endian float32 bytes of a wire vector; `TENSOR_INVALID` unless it holds `dims` of them. */
export function embeddingBytes(encoded: string, dims: number): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = base64ToBytes(encoded);
  } catch {
    throw new ProtocolError("TENSOR_INVALID", "an embedding is not base64");
  }
  if (bytes.byteLength !== dims * 4) {
    throw new ProtocolError(
      "TENSOR_INVALID",
      `an embedding has ${bytes.byteLength} bytes, ${dims} dims need ${dims * 4}`,
    );
  }
  return bytes;
}

/** The float32 components of a wire vector; `TENSOR_INVALID` unless it holds `dims` of them. */
export function decodeEmbedding(encoded: string, dims: number): Float32Array {
  const bytes = embeddingBytes(encoded, dims);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(dims);
  for (let i = 0; i < dims; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

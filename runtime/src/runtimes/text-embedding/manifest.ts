import { canonicalJson, type ModelDescriptor, Sha256 } from "@ncn/protocol";
import * as v from "valibot";
import { RuntimeError } from "../../errors.ts";

export const TEXT_EMBEDDING_FORMAT = "ncn-text-embedding/1";

/** Manifests are small; anything larger is a network, not a manifest. */
export const MAX_TEXT_EMBEDDING_MANIFEST_BYTES = 64 * 1024;

/**
 * What a text-embedding model id stands for: the content hashes of its encoder (an ONNX
 * graph in the Hugging Face layout: `input_ids`, `attention_mask` -> `last_hidden_state`)
 * and of its `tokenizer.json`, and how token vectors become one vector per text. The
 * task's model descriptor points at this manifest, so the receipt's model hash binds
 * every part and every setting.
 */
export const TextEmbeddingManifest = v.strictObject({
  format: v.literal(TEXT_EMBEDDING_FORMAT),
  encoder: Sha256,
  tokenizer: Sha256,
  /** Width of the vectors the encoder produces. */
  dims: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(8192)),
  /**
   * The encoder output read: `last_hidden_state` is pooled here; `sentence_embedding`
   * (what sentence-transformers exports add) is already pooled by the graph.
   */
  output: v.picklist(["last_hidden_state", "sentence_embedding"]),
  /** How token vectors are pooled: the mean over tokens the attention mask keeps. */
  pooling: v.literal("mean"),
  /** L2-normalise each vector (cosine similarity is then a dot product). */
  normalize: v.boolean(),
  /** Most tokens per text (the encoder's position limit); longer texts are refused. */
  maxTokens: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65_536)),
  /** Texts run through the encoder at once (padded to the longest of them). */
  batchSize: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)),
});
export type TextEmbeddingManifest = v.InferOutput<typeof TextEmbeddingManifest>;

/** The manifest's file bytes: canonical JSON, so equal manifests hash equally. */
export function textEmbeddingManifestBytes(m: TextEmbeddingManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(m));
}

/** The manifest in `bytes`, or `INVALID_INPUT` naming the first bad field. */
export function parseTextEmbeddingManifest(modelId: string, bytes: Uint8Array): TextEmbeddingManifest {
  let json: unknown;
  try {
    json =
      bytes.byteLength <= MAX_TEXT_EMBEDDING_MANIFEST_BYTES
        ? JSON.parse(new TextDecoder().decode(bytes))
        : undefined;
  } catch {
    json = undefined;
  }
  const r = v.safeParse(TextEmbeddingManifest, json);
  if (!r.success) {
    const issue = r.issues[0];
    const field = issue ? v.getDotPath(issue) : null;
    throw new RuntimeError("INVALID_INPUT", `model ${modelId} is not a text-embedding manifest`, {
      details: { model: modelId, format: TEXT_EMBEDDING_FORMAT, ...(field ? { field } : {}) },
    });
  }
  return r.output;
}

export interface TextEmbeddingParts {
  encoder: ModelDescriptor;
  tokenizer: ModelDescriptor;
}

/**
 * The descriptors of the parts a manifest names, found by sha256 among the task's
 * pipeline first, then among the models this node ships with; `MODEL_NOT_FOUND` naming
 * the missing part otherwise.
 */
export function partsOfManifest(
  modelId: string,
  manifest: TextEmbeddingManifest,
  pipeline: readonly ModelDescriptor[],
  builtin: readonly ModelDescriptor[],
): TextEmbeddingParts {
  const find = (role: "encoder" | "tokenizer", sha: string): ModelDescriptor => {
    const found =
      pipeline.find((m) => m.sha256.toLowerCase() === sha) ??
      builtin.find((m) => m.sha256.toLowerCase() === sha);
    if (!found) {
      throw new RuntimeError(
        "MODEL_NOT_FOUND",
        `the ${role} ${sha} of ${modelId} is not in the task's pipeline`,
        {
          details: { model: modelId, role, sha256: sha },
        },
      );
    }
    return found;
  };
  return { encoder: find("encoder", manifest.encoder), tokenizer: find("tokenizer", manifest.tokenizer) };
}

import type { ModelDescriptor, ModelId, Sha256 } from "@ncn/protocol";
import { TEXT_EMBEDDING_FORMAT, type TextEmbeddingManifest } from "./manifest.ts";

const ASSETS = "npm:@ncn/runtime/assets";

/**
 * The encoder of `ncn-glove-100d`: GloVe 6B word vectors (50,000 words, float16, weighted
 * by smooth inverse frequency) as a lookup in the Hugging Face encoder layout. Built by
 * `runtime/models/ncn-glove/build.ts`.
 */
export const NCN_GLOVE_ENCODER: ModelDescriptor = {
  id: "ncn-glove-100d-encoder" as ModelId,
  sha256: "0x9e957930b10d90720ca1cdb4d2e8526710fef3139e68216a85cdecda3f8deabd" as Sha256,
  size: 10001410,
  runtime: "onnx",
  sources: [`${ASSETS}/ncn-glove/model.onnx`],
  inputs: [
    { name: "input_ids", dtype: "int64", dims: ["batch", "sequence"] },
    { name: "attention_mask", dtype: "int64", dims: ["batch", "sequence"] },
  ],
  outputs: [
    { name: "last_hidden_state", dtype: "float32", dims: ["batch", "sequence", 100] },
    { name: "sentence_embedding", dtype: "float32", dims: ["batch", 100] },
  ],
  description: "GloVe 6B 100-d word vectors as a lookup encoder (input_ids -> last_hidden_state)",
};

/** The tokenizer of `ncn-glove-100d` (tokenizer.json: lowercase, BERT pre-tokenizer, WordLevel). */
export const NCN_GLOVE_TOKENIZER: ModelDescriptor = {
  id: "ncn-glove-100d-tokenizer" as ModelId,
  sha256: "0xb7e3822a47205de3c8b642181aff45151e734bbbce34cdb5f7ffc41e507a6230" as Sha256,
  size: 798257,
  runtime: "onnx",
  sources: [`${ASSETS}/ncn-glove/tokenizer.json`],
  inputs: [],
  outputs: [],
  description: "Tokenizer of ncn-glove-100d-encoder (not a network: read by the embedding runtime)",
};

export const NCN_GLOVE_MANIFEST: TextEmbeddingManifest = {
  format: TEXT_EMBEDDING_FORMAT,
  encoder: NCN_GLOVE_ENCODER.sha256,
  tokenizer: NCN_GLOVE_TOKENIZER.sha256,
  dims: 100,
  output: "sentence_embedding",
  pooling: "mean",
  normalize: true,
  maxTokens: 2048,
  batchSize: 32,
};

/**
 * The sentence-embedding model as subnets list it: the manifest binding the encoder and
 * tokenizer above. Its sha256 is that of `textEmbeddingManifestBytes(NCN_GLOVE_MANIFEST)`
 * (checked by a test). The file is canonical JSON; its extension keeps formatters off it.
 */
export const NCN_GLOVE: ModelDescriptor = {
  id: "ncn-glove-100d" as ModelId,
  sha256: "0xdc31df5abf92883ac637f41357be48e65187fdeb8b823425e3dbf29d678a631e" as Sha256,
  size: 300,
  runtime: "onnx",
  sources: [`${ASSETS}/ncn-glove-100d.text-embedding`],
  inputs: [],
  outputs: [],
  description: "Sentence embeddings, 100 dims: SIF-weighted mean of GloVe 6B word vectors, L2-normalised",
  task: "embed",
};

/** Every embedding model agents and validators can run without downloading anything. */
export const TEXT_EMBEDDING_BUILTIN_MODELS: readonly ModelDescriptor[] = [
  NCN_GLOVE,
  NCN_GLOVE_ENCODER,
  NCN_GLOVE_TOKENIZER,
];

/** The `model` and `pipeline` fields of an embedding task served by the built-in model. */
export function ncnGloveTask(): { model: ModelDescriptor; pipeline: ModelDescriptor[] } {
  return { model: NCN_GLOVE, pipeline: [NCN_GLOVE_ENCODER, NCN_GLOVE_TOKENIZER] };
}

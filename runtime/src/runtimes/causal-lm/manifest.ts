import { canonicalJson, type ModelDescriptor, ModelId, ModelSource, Sha256 } from "@ncn/protocol";
import * as v from "valibot";
import { RuntimeError } from "../../errors.ts";

export const CAUSAL_LM_FORMAT = "ncn-causal-lm/1";

/** Manifests are small; anything larger is a network, not a manifest. */
export const MAX_MANIFEST_BYTES = 64 * 1024;

/** One file of the model: its content address and where it can be fetched. */
export const ManifestPart = v.object({
  sha256: Sha256,
  size: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(16 * 1024 ** 3)),
  sources: v.pipe(v.array(ModelSource), v.minLength(1), v.maxLength(16)),
});
export type ManifestPart = v.InferOutput<typeof ManifestPart>;

/**
 * What a causal language model id stands for: the decoder ONNX (Hugging Face layout:
 * `input_ids`, `attention_mask`, optional `position_ids`, `past_key_values.{i}.key/value`
 * in; `logits`, `present.{i}.key/value` out), its `tokenizer.json` and its
 * `tokenizer_config.json` (special tokens, chat template). The task's model descriptor
 * points at this manifest, so the receipt's model hash binds every part.
 */
export const CausalLmManifest = v.object({
  format: v.literal(CAUSAL_LM_FORMAT),
  decoder: ManifestPart,
  tokenizer: ManifestPart,
  tokenizerConfig: ManifestPart,
  /** Most tokens (prompt and generated) the model attends to. */
  contextLength: v.pipe(v.number(), v.integer(), v.minValue(2), v.maxValue(1 << 20)),
  /**
   * Tokens that end generation besides `tokenizer_config.json`'s `eos_token` (as HF's
   * `generation_config.json` lists several `eos_token_id`s).
   */
  endTokens: v.optional(v.pipe(v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(64))), v.maxLength(8))),
});
export type CausalLmManifest = v.InferOutput<typeof CausalLmManifest>;

/** The manifest's file bytes: canonical JSON, so equal manifests hash equally. */
export function causalLmManifestBytes(manifest: CausalLmManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(manifest));
}

/** The manifest a model's bytes hold, or `INVALID_INPUT` naming the model and the format expected. */
export function parseCausalLmManifest(modelId: string, bytes: Uint8Array): CausalLmManifest {
  let json: unknown;
  try {
    json = bytes.byteLength <= MAX_MANIFEST_BYTES ? JSON.parse(new TextDecoder().decode(bytes)) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(CausalLmManifest, json);
  if (!parsed.success) {
    throw new RuntimeError("INVALID_INPUT", `model ${modelId} is not a causal language model manifest`, {
      details: { model: modelId, format: CAUSAL_LM_FORMAT },
    });
  }
  return parsed.output;
}

/**
 * The descriptor of one part of a manifest: the built-in model with its hash (no download),
 * else one built from the entry, named `<model id, first prefixChars>/<role>`.
 */
export function manifestPartDescriptor(
  model: Pick<ModelDescriptor, "id">,
  role: string,
  entry: ManifestPart,
  builtin: readonly ModelDescriptor[],
  prefixChars: number,
): ModelDescriptor {
  const sha = entry.sha256.toLowerCase();
  return (
    builtin.find((m) => m.sha256.toLowerCase() === sha) ?? {
      id: v.parse(ModelId, `${model.id.slice(0, prefixChars)}/${role}`),
      sha256: entry.sha256,
      size: entry.size,
      runtime: "onnx",
      sources: entry.sources,
      inputs: [],
      outputs: [],
    }
  );
}

export interface CausalLmParts {
  decoder: ModelDescriptor;
  tokenizer: ModelDescriptor;
  tokenizerConfig: ModelDescriptor;
}

/**
 * The descriptor of every part: a model this agent ships with when its hash matches (no
 * download), otherwise one built from the manifest's own entry.
 */
export function partsOfManifest(
  model: Pick<ModelDescriptor, "id">,
  manifest: CausalLmManifest,
  builtin: readonly ModelDescriptor[],
): CausalLmParts {
  const part = (role: string, entry: ManifestPart) => manifestPartDescriptor(model, role, entry, builtin, 46);
  return {
    decoder: part("decoder", manifest.decoder),
    tokenizer: part("tokenizer", manifest.tokenizer),
    tokenizerConfig: part("tokenizer-config", manifest.tokenizerConfig),
  };
}

import { canonicalJson, type ModelDescriptor } from "@ncn/protocol";
import * as v from "valibot";
import { RuntimeError } from "../../errors.ts";
import { ManifestPart, manifestPartDescriptor } from "../causal-lm/manifest.ts";

export const SPEECH_TO_TEXT_FORMAT = "ncn-speech-to-text/1";

/** Manifests are small; anything larger is a network, not a manifest. */
export const MAX_SPEECH_MANIFEST_BYTES = 64 * 1024;

const TokenString = v.pipe(v.string(), v.minLength(1), v.maxLength(64));
const Count = (max: number) => v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(max));

/**
 * What a speech-to-text model id stands for: a whisper-layout model in the Hugging Face
 * ONNX export layout, its tokenizer and how audio becomes its input.
 *
 * - `encoder`: `encoder_model.onnx` (`input_features` [batch, nMels, frames] -> `last_hidden_state`)
 * - `decoder`: `decoder_model.onnx` (`input_ids`, `encoder_hidden_states` -> `logits`,
 *   `present.{i}.decoder/encoder.key/value`), or `decoder_model_merged.onnx` (the same plus
 *   `past_key_values.{i}.*` and `use_cache_branch` in) when `decoderWithPast` is absent
 * - `decoderWithPast`: `decoder_with_past_model.onnx` (`input_ids`,
 *   `past_key_values.{i}.decoder/encoder.key/value` -> `logits`, `present.{i}.decoder.key/value`)
 * - `tokenizer`: `tokenizer.json`
 *
 * The task's model descriptor points at this manifest, so the receipt's model hash binds
 * every part and every setting.
 */
export const SpeechToTextManifest = v.strictObject({
  format: v.literal(SPEECH_TO_TEXT_FORMAT),
  encoder: ManifestPart,
  decoder: ManifestPart,
  decoderWithPast: v.optional(ManifestPart),
  tokenizer: ManifestPart,
  /** The log-mel front end: whisper's is 16 kHz, n_fft 400, hop 160, 80 bins (128 for large-v3). */
  frontEnd: v.strictObject({
    sampleRate: v.literal(16_000),
    nFft: v.picklist([400]),
    hop: v.picklist([160]),
    nMels: v.picklist([80, 128]),
  }),
  /**
   * Audio is zero-padded to this many seconds before the front end (whisper's encoders take
   * exactly 30 s, 3000 frames); absent, the encoder takes the audio's own length.
   */
  chunkSeconds: v.optional(v.literal(30)),
  /** Tokens the decoder starts from, e.g. `<|startoftranscript|><|en|><|transcribe|><|notimestamps|>`. */
  prompt: v.pipe(v.array(TokenString), v.minLength(1), v.maxLength(8)),
  /** The token that ends the transcript. */
  endToken: TokenString,
  /** Most decoder positions (prompt and transcript): whisper's `max_target_positions`. */
  maxTargetPositions: Count(4096),
});
export type SpeechToTextManifest = v.InferOutput<typeof SpeechToTextManifest>;

/** The manifest's file bytes: canonical JSON, so equal manifests hash equally. */
export function speechToTextManifestBytes(manifest: SpeechToTextManifest): Uint8Array {
  return new TextEncoder().encode(canonicalJson(manifest));
}

/** The manifest in `bytes`, or `INVALID_INPUT` naming the model, the format and the first bad field. */
export function parseSpeechToTextManifest(modelId: string, bytes: Uint8Array): SpeechToTextManifest {
  let json: unknown;
  try {
    json =
      bytes.byteLength <= MAX_SPEECH_MANIFEST_BYTES ? JSON.parse(new TextDecoder().decode(bytes)) : undefined;
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(SpeechToTextManifest, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = issue ? v.getDotPath(issue) : null;
    throw new RuntimeError("INVALID_INPUT", `model ${modelId} is not a speech-to-text manifest`, {
      details: { model: modelId, format: SPEECH_TO_TEXT_FORMAT, ...(field ? { field } : {}) },
    });
  }
  return parsed.output;
}

export interface SpeechToTextParts {
  encoder: ModelDescriptor;
  decoder: ModelDescriptor;
  decoderWithPast: ModelDescriptor | undefined;
  tokenizer: ModelDescriptor;
}

/**
 * The descriptor of every part: a model this agent ships with when its hash matches (no
 * download), otherwise one built from the manifest's own entry.
 */
export function speechPartsOfManifest(
  model: Pick<ModelDescriptor, "id">,
  manifest: SpeechToTextManifest,
  builtin: readonly ModelDescriptor[],
): SpeechToTextParts {
  const part = (role: string, entry: ManifestPart) => manifestPartDescriptor(model, role, entry, builtin, 40);
  return {
    encoder: part("encoder", manifest.encoder),
    decoder: part("decoder", manifest.decoder),
    decoderWithPast: manifest.decoderWithPast ? part("decoder-past", manifest.decoderWithPast) : undefined,
    tokenizer: part("tokenizer", manifest.tokenizer),
  };
}

import type { ModelDescriptor, ModelId, Sha256 } from "@ncn/protocol";
import type { ManifestPart } from "../causal-lm/manifest.ts";
import { SPEECH_TO_TEXT_FORMAT, type SpeechToTextManifest } from "./manifest.ts";
import { NCN_WHISPER_FILES, NCN_WHISPER_MAX_TARGET_POSITIONS } from "./ncn-whisper-files.ts";

/** Where the files of `ncn-whisper` ship: in this package (`runtime/assets/ncn-whisper/`). */
const ASSETS = "npm:@ncn/runtime/assets/ncn-whisper";

type FileName = keyof typeof NCN_WHISPER_FILES;

function file(id: string, name: FileName, description: string): ModelDescriptor {
  return {
    id: id as ModelId,
    sha256: NCN_WHISPER_FILES[name].sha256 as Sha256,
    size: NCN_WHISPER_FILES[name].size,
    runtime: "onnx",
    sources: [`${ASSETS}/${name}`],
    inputs: [],
    outputs: [],
    description,
  };
}

/** The encoder of `ncn-whisper`: `input_features` [1, 80, frames] -> `last_hidden_state`. */
export const NCN_WHISPER_ENCODER = file(
  "ncn-whisper-encoder",
  "encoder_model.onnx",
  "ncn-whisper encoder (ONNX, Hugging Face whisper layout)",
);

/** The first decoder pass of `ncn-whisper` (prompt over the encoder states, returns every present). */
export const NCN_WHISPER_DECODER = file(
  "ncn-whisper-decoder",
  "decoder_model.onnx",
  "ncn-whisper decoder (ONNX, Hugging Face whisper layout)",
);

/** The cached decoder step of `ncn-whisper`. */
export const NCN_WHISPER_DECODER_WITH_PAST = file(
  "ncn-whisper-decoder-with-past",
  "decoder_with_past_model.onnx",
  "ncn-whisper decoder with past (ONNX, Hugging Face whisper layout)",
);

/** Character-level tokenizer of `ncn-whisper` with whisper's special tokens (33 tokens). */
export const NCN_WHISPER_TOKENIZER = file(
  "ncn-whisper-tokenizer",
  "tokenizer.json",
  "ncn-whisper tokenizer.json (not a network: read by the tokenizer)",
);

const part = (m: ModelDescriptor): ManifestPart => ({ sha256: m.sha256, size: m.size, sources: m.sources });

export const NCN_WHISPER_MANIFEST: SpeechToTextManifest = {
  format: SPEECH_TO_TEXT_FORMAT,
  encoder: part(NCN_WHISPER_ENCODER),
  decoder: part(NCN_WHISPER_DECODER),
  decoderWithPast: part(NCN_WHISPER_DECODER_WITH_PAST),
  tokenizer: part(NCN_WHISPER_TOKENIZER),
  frontEnd: { sampleRate: 16_000, nFft: 400, hop: 160, nMels: 80 },
  prompt: ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"],
  endToken: "<|endoftext|>",
  maxTargetPositions: NCN_WHISPER_MAX_TARGET_POSITIONS,
};

/**
 * The speech recogniser as subnets list it: a small whisper-shaped model trained on
 * espeak-ng speech by `runtime/models/ncn-whisper/` (English read by espeak-ng's voices;
 * not a recogniser of human speech). Its sha256 is that of
 * `speechToTextManifestBytes(NCN_WHISPER_MANIFEST)` (checked by a test).
 */
export const NCN_WHISPER: ModelDescriptor = {
  id: "ncn-whisper" as ModelId,
  sha256: NCN_WHISPER_FILES["ncn-whisper.speech-to-text"].sha256 as Sha256,
  size: NCN_WHISPER_FILES["ncn-whisper.speech-to-text"].size,
  runtime: "onnx",
  sources: [`${ASSETS}/ncn-whisper.speech-to-text`],
  inputs: [],
  outputs: [],
  description: "ncn-whisper: a small whisper-shaped speech recogniser trained on espeak-ng speech",
  task: "transcribe",
};

/** Every speech model file agents and validators can run without downloading anything. */
export const SPEECH_TO_TEXT_BUILTIN_MODELS: readonly ModelDescriptor[] = [
  NCN_WHISPER,
  NCN_WHISPER_ENCODER,
  NCN_WHISPER_DECODER,
  NCN_WHISPER_DECODER_WITH_PAST,
  NCN_WHISPER_TOKENIZER,
];

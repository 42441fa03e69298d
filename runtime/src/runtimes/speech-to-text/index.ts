/**
 * The speech-to-text runtime (`@ncn/runtime/speech-to-text`): `transcribe` tasks on
 * whisper-layout ONNX models, with the audio front end (WAV, resampling, log-mel).
 */

export {
  NCN_WHISPER,
  NCN_WHISPER_DECODER,
  NCN_WHISPER_DECODER_WITH_PAST,
  NCN_WHISPER_ENCODER,
  NCN_WHISPER_MANIFEST,
  NCN_WHISPER_TOKENIZER,
  SPEECH_TO_TEXT_BUILTIN_MODELS,
} from "./builtin-models.ts";
export { type FrontEnd, type LogMel, LogMelExtractor, melFilters, WHISPER_FRONT_END } from "./log-mel.ts";
export {
  parseSpeechToTextManifest,
  SPEECH_TO_TEXT_FORMAT,
  SpeechToTextManifest,
  type SpeechToTextParts,
  speechPartsOfManifest,
  speechToTextManifestBytes,
} from "./manifest.ts";
export { resample } from "./resample.ts";
export {
  type LoadedSpeechToText,
  SpeechToTextRuntime,
  type SpeechToTextRuntimeOptions,
} from "./speech-to-text-runtime.ts";
export {
  type LogitsAt,
  type TranscriptFailure,
  type TranscriptVerdict,
  type VerifyTranscriptParameters,
  verifyTranscript,
} from "./verify-transcript.ts";
export { type DecodedAudio, decodeWav, encodeWav } from "./wav.ts";
export {
  type WhisperCache,
  type WhisperLayout,
  WhisperModel,
  type WhisperStep,
  whisperLayout,
} from "./whisper-model.ts";

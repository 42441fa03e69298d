import * as v from "valibot";
import { ModelId } from "../primitives.ts";
import { TokenIdSchema } from "./generate.ts";

/**
 * Bounds of a `transcribe` task. Audio is a WAV file of 16-bit PCM at any sample rate, at
 * most 30 seconds (whisper's window); 30 s of 48 kHz stereo is 5.8 MB, 7.7 MB as base64,
 * well inside a task frame.
 */
export const TRANSCRIBE_LIMITS = {
  /** Seconds of audio in one task. */
  seconds: 30,
  /** Bytes of the WAV file (30 s of 48 kHz stereo 16-bit, with room for headers). */
  wavBytes: 6 * 1024 * 1024,
  /** Lowest and highest sample rates accepted. */
  minSampleRate: 4000,
  maxSampleRate: 192_000,
  /** Characters of the optional language code and prompt. */
  languageChars: 16,
  promptChars: 1024,
  /** Tokens one transcript may hold. */
  maxTokens: 1024,
  /** Characters of the transcript. */
  textChars: 16_384,
} as const;

/** base64 characters that carry `TRANSCRIBE_LIMITS.wavBytes` bytes. */
const MAX_AUDIO_BASE64 = 4 * Math.ceil(TRANSCRIBE_LIMITS.wavBytes / 3);

/** The audio of a transcribe task: a WAV file (16-bit PCM, any rate, mono or more channels) as base64. */
export const TranscribeAudio = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9+/]*={0,2}$/, "audio must be base64 of a WAV file"),
  v.minLength(60, "audio is too short to be a WAV file"),
  v.maxLength(MAX_AUDIO_BASE64, `audio has at most ${TRANSCRIBE_LIMITS.wavBytes} bytes`),
);

/** A language hint (`en`); models trained on one language ignore it. */
export const TranscribeLanguage = v.pipe(
  v.string(),
  v.regex(/^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$/, "language must be a code such as en"),
  v.maxLength(TRANSCRIBE_LIMITS.languageChars),
);

/** Text the transcript may continue (whisper's prompt); models without prompting ignore it. */
export const TranscribePrompt = v.pipe(v.string(), v.maxLength(TRANSCRIBE_LIMITS.promptChars));

/** Speech to text: a WAV file in, its transcript out. */
export const TranscribeTaskInput = v.object({
  kind: v.literal("transcribe"),
  model: ModelId,
  audio: TranscribeAudio,
  language: v.optional(TranscribeLanguage),
  prompt: v.optional(TranscribePrompt),
});
export type TranscribeTaskInput = v.InferOutput<typeof TranscribeTaskInput>;

/**
 * A transcript: the text, the token ids the model produced (special tokens excluded; what a
 * validator re-checks by teacher forcing) and the seconds of audio heard (what the task is
 * billed by).
 */
export const TranscribeResult = v.object({
  kind: v.literal("transcribe"),
  text: v.pipe(v.string(), v.maxLength(TRANSCRIBE_LIMITS.textChars)),
  tokens: v.pipe(v.array(TokenIdSchema), v.maxLength(TRANSCRIBE_LIMITS.maxTokens)),
  audio_seconds: v.pipe(v.number(), v.minValue(0), v.maxValue(TRANSCRIBE_LIMITS.seconds)),
});
export type TranscribeResult = v.InferOutput<typeof TranscribeResult>;

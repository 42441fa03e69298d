import type {
  GeneratePrompt,
  GenerateResult,
  ModelDescriptor,
  OcrLine,
  SamplingParams,
  Tensor,
  TranscribeResult,
  TranscribeTaskInput,
} from "@ncn/protocol";
import type { VerifyTolerance, VerifyVerdict } from "@ncn/runtime/causal-lm";
import type { TranscriptVerdict } from "@ncn/runtime/speech-to-text";

/** What a `transcribe` task asked for: the audio and the hints. */
export type TranscriptionAsked = Pick<TranscribeTaskInput, "audio" | "language" | "prompt">;

/** What a `generate` task asked for: the prompt and how tokens were to be chosen. */
export interface GenerationAsked {
  prompt: GeneratePrompt;
  sampling: SamplingParams;
}

/** The vectors an embedding model gives some texts, as the embedding runtime computes them. */
export interface EmbeddedTexts {
  vectors: Float32Array[];
  /** Vector width. */
  dims: number;
  /** Tokens per text. */
  tokens: number[];
}

/**
 * Runs a model again on a validator, to compare with what an agent returned. The optional
 * methods each serve one task kind: a re-executor without one cannot check results of that
 * kind (they are then counted as unchecked).
 */
export interface Reexecutor {
  run(model: ModelDescriptor, inputs: Record<string, Tensor>): Promise<Record<string, Tensor>>;
  /**
   * Reads an image (base64) with an OCR pipeline the way agents do; `pipeline` holds the
   * registered parts of `model`.
   */
  ocr?(model: ModelDescriptor, pipeline: readonly ModelDescriptor[], image: string): Promise<OcrLine[]>;
  /**
   * Checks an agent's `generate` result without generating again (sampled tokens diverge
   * across hardware): the language model `model` (a manifest naming its files) scores the
   * prompt and the claimed tokens in one forward pass, and every token must be one the
   * task's sampling could have drawn, within `tolerance`.
   */
  verifyGeneration?(
    model: ModelDescriptor,
    asked: GenerationAsked,
    result: GenerateResult,
    tolerance: VerifyTolerance,
  ): Promise<VerifyVerdict>;
  /**
   * The number of tokens the language model `model` (a manifest) reads for `prompt`, chat
   * template included: what a `generate` result's `prompt_tokens` must say. Tokenizing is cheap,
   * so validators check it on every completion, sampled or not.
   */
  countPromptTokens?(model: ModelDescriptor, prompt: GeneratePrompt): Promise<number>;
  /**
   * Embeds `texts` with the embedding model `model` (a manifest) the way agents do;
   * `pipeline` holds registered parts of it (parts are taken by hash, built-in ones need none).
   */
  embed?(
    model: ModelDescriptor,
    pipeline: readonly ModelDescriptor[],
    texts: readonly string[],
  ): Promise<EmbeddedTexts>;
  /**
   * Checks an agent's `transcribe` result without decoding again: the speech model `model`
   * (a manifest) encodes the audio and scores the claimed tokens in one decoder pass; every
   * token, and the end after the last, must be the greedy choice within `greedyMargin`.
   */
  verifyTranscript?(
    model: ModelDescriptor,
    asked: TranscriptionAsked,
    result: TranscribeResult,
    greedyMargin: number,
  ): Promise<TranscriptVerdict>;
}

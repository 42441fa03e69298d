import type {
  GeneratePrompt,
  GenerateResult,
  ModelDescriptor,
  OcrLine,
  SamplingParams,
  Tensor,
} from "@ncn/protocol";
import type { VerifyTolerance, VerifyVerdict } from "@ncn/runtime/causal-lm";

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
}

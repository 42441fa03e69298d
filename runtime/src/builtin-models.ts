import { OCR_BUILTIN_MODELS } from "./ocr/builtin-models.ts";
import { CAUSAL_LM_BUILTIN_MODELS } from "./runtimes/causal-lm/builtin-models.ts";
import { SPEECH_TO_TEXT_BUILTIN_MODELS } from "./runtimes/speech-to-text/builtin-models.ts";
import { TEXT_EMBEDDING_BUILTIN_MODELS } from "./runtimes/text-embedding/builtin-models.ts";

export * from "./ocr/builtin-models.ts";
export * from "./runtimes/causal-lm/builtin-models.ts";
export * from "./runtimes/speech-to-text/builtin-models.ts";
export * from "./runtimes/text-embedding/builtin-models.ts";

/**
 * Every model agents and validators can run without downloading anything (their files
 * ship in npm packages, and in the agent's single executable): the OCR pipeline and its
 * parts, the sentence-embedding model and its parts, the language model and its parts, the
 * speech recogniser and its parts.
 */
export const BUILTIN_MODELS: readonly import("@ncn/protocol").ModelDescriptor[] = [
  ...OCR_BUILTIN_MODELS,
  ...TEXT_EMBEDDING_BUILTIN_MODELS,
  ...CAUSAL_LM_BUILTIN_MODELS,
  ...SPEECH_TO_TEXT_BUILTIN_MODELS,
];

/**
 * The causal language model runtime (`@ncn/runtime/causal-lm`): `generate` tasks on
 * Hugging Face-layout ONNX decoders, and the teacher-forcing check validators run on them.
 */

export {
  CAUSAL_LM_BUILTIN_MODELS,
  NCN_GPT,
  NCN_GPT_DECODER,
  NCN_GPT_MANIFEST,
  NCN_GPT_TOKENIZER,
  NCN_GPT_TOKENIZER_CONFIG,
} from "./builtin-models.ts";
export { CausalLmRuntime, type CausalLmRuntimeOptions, type LoadedCausalLm } from "./causal-lm-runtime.ts";
export { Decoder, type DecoderLayout, decoderLayout, type KvCache } from "./decoder.ts";
export { type GenerateOptions, type Generation, generate } from "./generate.ts";
export { LmTokenizer } from "./lm-tokenizer.ts";
export {
  CAUSAL_LM_FORMAT,
  CausalLmManifest,
  type CausalLmParts,
  causalLmManifestBytes,
  ManifestPart,
  parseCausalLmManifest,
  partsOfManifest,
} from "./manifest.ts";
export { argmax, type Prng, sampleToken, seededPrng } from "./sampler.ts";
export {
  DEFAULT_VERIFY_TOLERANCE,
  type VerifyFailure,
  type VerifyGenerationParameters,
  type VerifyTolerance,
  type VerifyVerdict,
  verifyGeneration,
} from "./verify.ts";

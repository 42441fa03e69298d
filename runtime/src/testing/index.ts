/**
 * Test helpers agents, validators and tools reuse: a tiny real ONNX model with its
 * descriptor and reference output, a hostile model whose weight names a file (external
 * data), models whose run takes as much memory or time as their input says, and a
 * probe of what a model's allocation does to this process, and word-lookup encoders in the
 * Hugging Face layout with their tokenizer.json (what the built-in embedding model is).
 * (Text rendering for OCR tests is `@ncn/runtime/testing/render-text`.)
 */
export {
  type ExternalDataModelOptions,
  externalDataModelBytes,
  externalDataModelDescriptor,
} from "./external-data-model.ts";
export { expandModel, expandSumModel, slowLoopModel } from "./limit-models.ts";
export { float16Bits, type LookupEncoderOptions, lookupEncoderBytes } from "./lookup-encoder.ts";
export {
  TINY_WEIGHTS,
  type TinyModelOptions,
  tinyModelBytes,
  tinyModelDescriptor,
  tinyModelReference,
} from "./tiny-model.ts";
export { isWordLevelToken, WORD_LEVEL_SPECIALS, wordLevelTokenizerJson } from "./word-level-tokenizer.ts";

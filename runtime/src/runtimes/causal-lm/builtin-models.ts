import type { ModelDescriptor, ModelId, Sha256 } from "@ncn/protocol";
import { CAUSAL_LM_FORMAT, type CausalLmManifest, type ManifestPart } from "./manifest.ts";

/** Where the files of `ncn-gpt` ship: in this package (`runtime/assets/ncn-gpt/`). */
const ASSETS = "npm:@ncn/runtime/assets/ncn-gpt";

function file(id: string, sha: string, size: number, name: string, description: string): ModelDescriptor {
  return {
    id: id as ModelId,
    sha256: `0x${sha}` as Sha256,
    size,
    runtime: "onnx",
    sources: [`${ASSETS}/${name}`],
    inputs: [],
    outputs: [],
    description,
  };
}

/**
 * The decoder of `ncn-gpt` (2.6M parameters, 4 layers, context 256), trained on public-domain
 * text by `runtime/models/ncn-gpt/`: `input_ids`, `attention_mask`, `position_ids`,
 * `past_key_values.{0-3}.key/value` in, `logits`, `present.{0-3}.key/value` out.
 */
export const NCN_GPT_DECODER = file(
  "ncn-gpt-decoder",
  "1a8cfb23d6c7fbc7c6fff71ab73e69a667c7d6cc1204ef3176b3d7dd94328ad1",
  13667986,
  "model.onnx",
  "ncn-gpt decoder (ONNX, Hugging Face layout with KV cache)",
);

/** Byte-level BPE tokenizer of `ncn-gpt` (4,096 tokens). */
export const NCN_GPT_TOKENIZER = file(
  "ncn-gpt-tokenizer",
  "4cd92b52fd20808378228aeaf962788df10215ef127709c714c65d36187232cc",
  265973,
  "tokenizer.json",
  "ncn-gpt tokenizer.json (not a network: read by the tokenizer)",
);

/** Special tokens and chat template of `ncn-gpt`. */
export const NCN_GPT_TOKENIZER_CONFIG = file(
  "ncn-gpt-tokenizer-config",
  "3b46b308bfd8749266ad71b01e10d32880b719d4a0f313c3e22fd42cf61258ac",
  502,
  "tokenizer_config.json",
  "ncn-gpt tokenizer_config.json (special tokens, chat template)",
);

const part = (m: ModelDescriptor): ManifestPart => ({ sha256: m.sha256, size: m.size, sources: m.sources });

export const NCN_GPT_MANIFEST: CausalLmManifest = {
  format: CAUSAL_LM_FORMAT,
  decoder: part(NCN_GPT_DECODER),
  tokenizer: part(NCN_GPT_TOKENIZER),
  tokenizerConfig: part(NCN_GPT_TOKENIZER_CONFIG),
  contextLength: 256,
  endTokens: ["<|endoftext|>"],
};

/** Source of the manifest file (canonical JSON; the extension keeps formatters off it). */
export const NCN_GPT_MANIFEST_SOURCE = `${ASSETS}/ncn-gpt.causal-lm`;

/**
 * The language model as subnets list it: the manifest binding the three files above. Its
 * sha256 is that of `causalLmManifestBytes(NCN_GPT_MANIFEST)` (checked by a test).
 */
export const NCN_GPT: ModelDescriptor = {
  id: "ncn-gpt" as ModelId,
  sha256: "0xa24c0d2d73ca2b5f5b1ca0ee7249edc7c68f8c43efb063819d130ed5580a8835" as Sha256,
  size: 585,
  runtime: "onnx",
  sources: [NCN_GPT_MANIFEST_SOURCE],
  inputs: [],
  outputs: [],
  description: "ncn-gpt: a small GPT trained on public-domain English (KJV, WEB, Jane Austen)",
  task: "generate",
};

/** Every language model file agents and validators can run without downloading anything. */
export const CAUSAL_LM_BUILTIN_MODELS: readonly ModelDescriptor[] = [
  NCN_GPT,
  NCN_GPT_DECODER,
  NCN_GPT_TOKENIZER,
  NCN_GPT_TOKENIZER_CONFIG,
];

import { Tokenizer } from "@huggingface/tokenizers";
import * as v from "valibot";
import { RuntimeError } from "../../errors.ts";

/**
 * The part of a Hugging Face `tokenizer.json` checked before it is handed to the tokenizer:
 * a model with a vocabulary. The rest (normaliser, pre-tokenizer, post-processor) is read
 * by `@huggingface/tokenizers`, which refuses what it does not know.
 */
const TokenizerJson = v.looseObject({
  model: v.looseObject({
    type: v.optional(v.string()),
    vocab: v.union([v.record(v.string(), v.number()), v.array(v.unknown())]),
    unk_token: v.optional(v.nullable(v.string())),
  }),
  added_tokens: v.array(v.looseObject({ id: v.number(), content: v.string() })),
  normalizer: v.unknown(),
  pre_tokenizer: v.unknown(),
  post_processor: v.unknown(),
  decoder: v.unknown(),
});

/** Texts as token ids, the way the encoder was trained to read them. */
export interface TextTokenizer {
  /** Token ids of `text`, special tokens (`[CLS]`, `[SEP]`) included when the tokenizer adds them. */
  encode(text: string): number[];
  /** Id fed at padded positions (masked out by `attention_mask`). */
  readonly padId: number;
}

/**
 * A tokenizer from the bytes of a Hugging Face `tokenizer.json` (WordPiece, BPE, Unigram,
 * WordLevel): `INVALID_INPUT` when they are not one. tokenizers.js reads a WordLevel
 * vocabulary without its unknown token, so that token is passed in as configuration.
 *
 * @example loadTokenizer("ncn-glove-100d-tokenizer", bytes).encode("Hello world") // [2, 8, 9]
 */
export function loadTokenizer(modelId: string, bytes: Uint8Array): TextTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(TokenizerJson, json);
  if (!parsed.success || typeof json !== "object" || json === null) {
    throw new RuntimeError("INVALID_INPUT", `model ${modelId} is not a tokenizer.json`, {
      details: { model: modelId },
    });
  }
  const unk = parsed.output.model.unk_token ?? undefined;
  let tokenizer: Tokenizer;
  try {
    // The parsed JSON as it is, not valibot's copy: a record schema drops keys such as
    // "constructor", which are words of a vocabulary.
    tokenizer = new Tokenizer(json, unk === undefined ? {} : { unk_token: unk });
  } catch (e) {
    throw new RuntimeError("INVALID_INPUT", `model ${modelId} is a tokenizer.json this runtime cannot read`, {
      details: { model: modelId },
      cause: e,
    });
  }
  const pad = parsed.output.added_tokens.find((t) => t.content === "[PAD]" || t.content === "<pad>");
  return {
    padId: pad?.id ?? 0,
    encode(text: string): number[] {
      const ids = tokenizer.encode(text).ids;
      // A word-level vocabulary without an unknown token has no id for an unknown word.
      if (!ids.every((id) => Number.isInteger(id) && id >= 0)) {
        throw new RuntimeError("INVALID_INPUT", `tokenizer ${modelId} has no id for a word of the text`, {
          details: { model: modelId },
        });
      }
      return ids;
    },
  };
}

/** Special tokens of a word-level tokenizer, at ids 0 and 1. */
export const WORD_LEVEL_SPECIALS = ["[PAD]", "[UNK]"] as const;

/**
 * A `tokenizer.json` in the Hugging Face tokenizers format for a whole-word vocabulary:
 * lowercase normaliser, BERT pre-tokenizer (split on whitespace, each punctuation mark a
 * token), WordLevel model with `[PAD]` = 0 and `[UNK]` = 1, words from id 2 on in the
 * order given. The BERT pre-tokenizer splits alike in Rust and in JavaScript (Unicode
 * punctuation), unlike `Whitespace`, whose `\w` is ASCII-only in JavaScript.
 *
 * @example const json = wordLevelTokenizerJson(["the", ",", "guitar"]);
 */
export function wordLevelTokenizerJson(words: readonly string[]): string {
  const vocab: Record<string, number> = {};
  for (const [i, token] of WORD_LEVEL_SPECIALS.entries()) vocab[token] = i;
  for (const word of words) {
    if (Object.hasOwn(vocab, word)) throw new Error(`word ${JSON.stringify(word)} twice in the vocabulary`);
    vocab[word] = Object.keys(vocab).length;
  }
  return JSON.stringify({
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: WORD_LEVEL_SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: { type: "Lowercase" },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: null,
    decoder: null,
    model: { type: "WordLevel", vocab, unk_token: "[UNK]" },
  });
}

/** Characters the BERT pre-tokenizer makes tokens of their own (as tokenizers.js defines them). */
const PUNCTUATION = /[\p{P}\u0021-\u002F\u003A-\u0040\u005B-\u0060\u007B-\u007E]/u;

/**
 * Whether the lowercase normaliser and BERT pre-tokenizer can ever produce `word` as one
 * token: one punctuation mark, or lowercase text with neither whitespace nor punctuation.
 * Words that fail (`u.s.`, `e-mail`, `n't`) could never be looked up.
 */
export function isWordLevelToken(word: string): boolean {
  if (word.length === 0 || word !== word.toLowerCase() || /\s/u.test(word)) return false;
  if ([...word].length === 1) return true;
  return !PUNCTUATION.test(word);
}

import type { FinishReason, SamplingParams } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import { type TokenDelta, throwIfCancelled } from "../../runtime.ts";
import type { Decoder } from "./decoder.ts";
import type { LmTokenizer } from "./lm-tokenizer.ts";
import { sampleToken, seededPrng } from "./sampler.ts";

export interface GenerateOptions {
  sampling: SamplingParams;
  /** Most tokens (prompt and generated) the model attends to. */
  contextLength: number;
  signal?: AbortSignal;
  onToken?: (delta: TokenDelta) => void;
}

export interface Generation {
  /** Generated ids: end tokens left out; with a stop string, up to the token that completed it. */
  tokens: number[];
  /** The text of `tokens`, cut before the first stop string. */
  text: string;
  finishReason: FinishReason;
  timings: { prefill: number; firstToken: number; decode: number };
}

/** Where the first stop string starts in `text` (searching from `from`), or -1. */
function findStop(text: string, stops: readonly string[], from: number): number {
  let at = -1;
  for (const stop of stops) {
    const i = text.indexOf(stop, from);
    if (i >= 0 && (at < 0 || i < at)) at = i;
  }
  return at;
}

/** How much of the end of `text` must wait: a partial stop string or an incomplete character. */
function heldBack(text: string, stops: readonly string[]): number {
  let hold = 0;
  for (const stop of stops) {
    for (let n = Math.min(stop.length - 1, text.length); n > hold; n--) {
      if (text.endsWith(stop.slice(0, n))) {
        hold = n;
        break;
      }
    }
  }
  let replacement = 0;
  while (text[text.length - 1 - replacement] === "\uFFFD") replacement++;
  return Math.max(hold, replacement);
}

/**
 * Generates from prompt ids with the decoder's KV cache: one pass over the prompt, then one
 * token per pass, each chosen by `sampleToken` with a PRNG seeded by `sampling.seed`, until
 * an end token, a stop string, `max_tokens` or the context length.
 *
 * @example
 * const g = await generate(decoder, tokenizer, ids, { sampling, contextLength: 256, onToken: (d) => write(d.text) });
 */
export async function generate(
  decoder: Decoder,
  tokenizer: LmTokenizer,
  promptIds: readonly number[],
  options: GenerateOptions,
): Promise<Generation> {
  const { sampling, contextLength, signal } = options;
  if (promptIds.length === 0) throw new RuntimeError("INVALID_INPUT", "the prompt has no tokens");
  if (promptIds.length >= contextLength) {
    throw new RuntimeError(
      "INVALID_INPUT",
      `the prompt has ${promptIds.length} tokens; the model's context is ${contextLength}`,
      { details: { promptTokens: promptIds.length, contextLength } },
    );
  }
  const rng = seededPrng(sampling.seed);
  const t0 = performance.now();
  throwIfCancelled(signal);
  let step = await decoder.forward(promptIds, decoder.emptyCache());
  const prefill = performance.now() - t0;
  let logits = step.logitsAt(promptIds.length - 1);
  const tokens: number[] = [];
  let text = "";
  let released = 0;
  let finishReason: FinishReason = "length";
  let firstToken = 0;
  const longestStop = Math.max(0, ...sampling.stop.map((s) => s.length));
  for (;;) {
    throwIfCancelled(signal);
    const id = sampleToken(logits, sampling, rng);
    if (tokens.length === 0) firstToken = performance.now() - t0;
    if (tokenizer.endTokenIds.has(id)) {
      finishReason = "stop";
      break;
    }
    tokens.push(id);
    text = tokenizer.decode(tokens);
    const stopAt = findStop(text, sampling.stop, Math.max(0, released - longestStop));
    if (stopAt >= 0) {
      // The token that completed the stop string is kept, so its delta carries the rest of the text.
      text = text.slice(0, stopAt);
      finishReason = "stop";
    }
    const safe = stopAt >= 0 ? text.length : Math.max(released, text.length - heldBack(text, sampling.stop));
    options.onToken?.({ index: tokens.length - 1, token: id, text: text.slice(released, safe) });
    released = safe;
    if (stopAt >= 0) break;
    if (tokens.length >= sampling.max_tokens || promptIds.length + tokens.length >= contextLength) break;
    step = await decoder.forward([id], step.cache);
    logits = step.logitsAt(0);
  }
  if (released < text.length)
    options.onToken?.({ index: tokens.length, token: null, text: text.slice(released) });
  return {
    tokens,
    text,
    finishReason,
    timings: { prefill, firstToken, decode: performance.now() - t0 - prefill },
  };
}

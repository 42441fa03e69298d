import type { SamplingParams } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import type { Decoder } from "./decoder.ts";
import { argmax, nucleusSize, rankedProbs } from "./sampler.ts";

/**
 * How much drift between the agent's and the validator's logits the check forgives. The
 * defaults are far above float32 differences across CPUs and GPUs (~1e-4 in logits, up to
 * ~1e-2 in half precision) and far below what a substituted token costs.
 */
export interface VerifyTolerance {
  /** Greedy: a claimed token's logit may sit this far below the largest (logit units). */
  greedyMargin: number;
  /**
   * Sampling: a claimed token is refused when it lies in the least probable tail whose total
   * probability is below this: an honest sampler lands there at most this often per token.
   */
  tailMass: number;
  /** Sampling with `top_p` < 1: the nucleus is recomputed with `top_p` raised by this much. */
  topPSlack: number;
}

export const DEFAULT_VERIFY_TOLERANCE: VerifyTolerance = {
  greedyMargin: 0.5,
  tailMass: 1e-6,
  topPSlack: 0.02,
};

export type VerifyFailure =
  /** Greedy: the token's logit is more than `greedyMargin` below the argmax's. */
  | "not_greedy"
  /** Sampling: the token is in the tail an honest draw almost never reaches. */
  | "improbable"
  /** Sampling: the token lies outside the (slackened) top-p nucleus. */
  | "outside_top_p"
  /** A token id outside the model's vocabulary (the tokenizer's text skips it, so only its id shows). */
  | "unknown_token"
  /** More tokens than `max_tokens` or the context allows, or an end token among them. */
  | "too_many_tokens"
  | "end_token"
  /** The result's `prompt_tokens` is not the count of the prompt's tokens (position -1). */
  | "prompt_mismatch"
  /** The result's text is not its tokens' text, cut before a stop string (position -1). */
  | "text_mismatch";

export type VerifyVerdict =
  | { ok: true; checked: number }
  | {
      ok: false;
      /** Index of the first bad token among the claimed ones; -1 when the result as a whole is wrong. */
      position: number;
      token: number;
      reason: VerifyFailure;
      /** The expected token (greedy) or the token's measured probability (sampling). */
      expected?: number;
      probability?: number;
    };

export interface VerifyGenerationParameters {
  decoder: Decoder;
  promptIds: readonly number[];
  /** The generated ids the agent claims. */
  tokens: readonly number[];
  sampling: Pick<SamplingParams, "temperature" | "top_p" | "max_tokens">;
  contextLength: number;
  endTokenIds: ReadonlySet<number>;
  tolerance?: Partial<VerifyTolerance>;
}

/**
 * Re-checks claimed generated tokens by teacher forcing: one forward pass over the prompt
 * and the claimed tokens gives the distribution each token was drawn from, and every
 * token must be one the claimed sampling could have produced (see the runtime README's
 * "Verifying generated tokens"). Cheaper than generating again (one pass instead of one per
 * token) and independent of the sampler's PRNG, so it holds across hardware where logits
 * differ in their last bits and a seeded re-run could diverge.
 *
 * @example
 * const verdict = await verifyGeneration({ decoder, promptIds, tokens, sampling, contextLength: 256, endTokenIds });
 * if (!verdict.ok) reject(verdict.position, verdict.reason);
 */
export async function verifyGeneration(params: VerifyGenerationParameters): Promise<VerifyVerdict> {
  const { decoder, promptIds, tokens, sampling } = params;
  const tolerance = { ...DEFAULT_VERIFY_TOLERANCE, ...params.tolerance };
  if (promptIds.length === 0) throw new RuntimeError("INVALID_INPUT", "the prompt has no tokens");
  const limit = Math.min(sampling.max_tokens, params.contextLength - promptIds.length);
  if (tokens.length > limit) {
    return { ok: false, position: limit, token: tokens[limit] ?? 0, reason: "too_many_tokens" };
  }
  const endAt = tokens.findIndex((t) => params.endTokenIds.has(t));
  if (tokens.length === 0) return { ok: true, checked: 0 };
  const pass = await decoder.forward([...promptIds, ...tokens.slice(0, -1)], decoder.emptyCache());
  for (const [i, token] of tokens.entries()) {
    if (i === endAt) return { ok: false, position: i, token, reason: "end_token" };
    const logits = pass.logitsAt(promptIds.length - 1 + i);
    // Checked first: sampling would score an id past the logits as the whole distribution's tail.
    if (token >= logits.length) return { ok: false, position: i, token, reason: "unknown_token" };
    if (sampling.temperature === 0) {
      const best = argmax(logits);
      if ((logits[best] ?? 0) - (logits[token] ?? Number.NEGATIVE_INFINITY) > tolerance.greedyMargin) {
        return { ok: false, position: i, token, reason: "not_greedy", expected: best };
      }
      continue;
    }
    const ranked = rankedProbs(logits, sampling.temperature);
    const rank = ranked.ids.indexOf(token);
    const probability = ranked.probs[rank] ?? 0;
    if (
      sampling.top_p < 1 &&
      rank >= nucleusSize(ranked, Math.min(1, sampling.top_p + tolerance.topPSlack))
    ) {
      return { ok: false, position: i, token, reason: "outside_top_p", probability };
    }
    // Mass of every token at most as probable as the claimed one (the claimed one included).
    let tail = 0;
    for (let r = ranked.probs.length - 1; r >= rank; r--) tail += ranked.probs[r] ?? 0;
    if (tail < tolerance.tailMass)
      return { ok: false, position: i, token, reason: "improbable", probability };
  }
  return { ok: true, checked: tokens.length };
}

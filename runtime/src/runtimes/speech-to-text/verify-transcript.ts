import { argmax } from "../causal-lm/sampler.ts";

/** The decoder's logits of the position after token `i` of prompt + claimed tokens. */
export type LogitsAt = (i: number) => Float32Array;

export type TranscriptFailure =
  /** A claimed token's logit is more than `greedyMargin` below the best one's. */
  | "not_greedy"
  /** A token id outside the model's vocabulary. */
  | "unknown_token"
  /** The end token among the claimed tokens, or more tokens than the model's positions allow. */
  | "end_token"
  | "too_many_tokens"
  /** The transcript stops where the model would go on (the end token is not the greedy choice). */
  | "cut_short"
  /** The text is not the tokens' text, or the audio's length is not the one claimed (position -1). */
  | "text_mismatch"
  | "duration_mismatch";

export type TranscriptVerdict =
  | { ok: true; checked: number }
  | { ok: false; position: number; token: number; reason: TranscriptFailure; expected?: number };

export interface VerifyTranscriptParameters {
  logitsAt: LogitsAt;
  promptLength: number;
  tokens: readonly number[];
  endId: number;
  /** Most transcript tokens (the model's positions after the prompt). */
  budget: number;
  /** A claimed token's logit may sit this far below the largest (logit units); default 0.5. */
  greedyMargin?: number;
}

/**
 * Re-checks a greedy transcript by teacher forcing: from one decoder pass over the prompt
 * and the claimed tokens, every token must be the greedy choice (within `greedyMargin`,
 * far above float drift across machines, far below a substituted character) and, unless
 * the budget ran out, the end token must be the greedy choice after the last one.
 *
 * @example const verdict = verifyTranscript({ logitsAt, promptLength: 4, tokens, endId: 0, budget: 124 });
 */
export function verifyTranscript(params: VerifyTranscriptParameters): TranscriptVerdict {
  const { logitsAt, promptLength, tokens, endId, budget } = params;
  const margin = params.greedyMargin ?? 0.5;
  if (tokens.length > budget)
    return { ok: false, position: budget, token: tokens[budget] ?? 0, reason: "too_many_tokens" };
  const check = (position: number, token: number): TranscriptVerdict | undefined => {
    const logits = logitsAt(promptLength - 1 + position);
    if (token < 0 || token >= logits.length) return { ok: false, position, token, reason: "unknown_token" };
    const best = argmax(logits);
    if ((logits[best] ?? 0) - (logits[token] ?? Number.NEGATIVE_INFINITY) > margin) {
      const reason = position === tokens.length ? "cut_short" : "not_greedy";
      return { ok: false, position, token, reason, expected: best };
    }
    return undefined;
  };
  for (const [i, token] of tokens.entries()) {
    if (token === endId) return { ok: false, position: i, token, reason: "end_token" };
    const failure = check(i, token);
    if (failure) return failure;
  }
  if (tokens.length < budget) {
    const failure = check(tokens.length, endId);
    if (failure) return failure;
  }
  return { ok: true, checked: tokens.length };
}

import { GENERATE_LIMITS, type TokenDelta } from "@ncn/protocol";

/** Deltas held while an earlier one is missing (frames can reach the object out of order). */
const MAX_HELD = 4 * GENERATE_LIMITS.deltasPerFrame;

/**
 * The tokens of one streaming request's attempt, in the order their listeners get them: each
 * index once, none before the one ahead of it (a delta that overtook an earlier one waits for
 * it, up to `MAX_HELD` of them), nothing past the bounds of a generate result (the tokens and
 * one last flush, the text's length) and nothing after the last flush (`token: null`). Deltas
 * of another attempt start it over. No I/O: the Request object feeds it frames and sends out
 * what `accept` releases; a listener that joins late is sent `released`.
 */
export class TokenLog {
  #taskId: string | undefined;
  #released: TokenDelta[] = [];
  #held = new Map<number, TokenDelta>();
  #chars = 0;
  #ended = false;

  /** Everything released so far, in index order. */
  get released(): readonly TokenDelta[] {
    return this.#released;
  }

  /** Takes a frame's deltas of attempt `taskId`; returns those that may go out now, in order. */
  accept(taskId: string, deltas: readonly TokenDelta[]): TokenDelta[] {
    if (taskId !== this.#taskId) {
      this.#taskId = taskId;
      this.#released = [];
      this.#held.clear();
      this.#chars = 0;
      this.#ended = false;
    }
    for (const d of deltas) {
      if (d.index < this.#released.length || this.#held.has(d.index)) continue; // told twice
      if (this.#held.size >= MAX_HELD) break;
      this.#held.set(d.index, d);
    }
    const out: TokenDelta[] = [];
    for (;;) {
      const next = this.#held.get(this.#released.length);
      if (!next || this.#ended) break;
      if (
        this.#released.length > GENERATE_LIMITS.maxTokens ||
        this.#chars + next.text.length > GENERATE_LIMITS.textChars
      ) {
        this.#ended = true;
        break;
      }
      this.#held.delete(next.index);
      this.#released.push(next);
      this.#chars += next.text.length;
      out.push(next);
      if (next.token === null) this.#ended = true;
    }
    if (this.#ended) this.#held.clear();
    return out;
  }
}

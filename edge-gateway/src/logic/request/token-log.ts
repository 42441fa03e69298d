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
    const out: TokenDelta[] = [];
    for (const d of deltas) {
      if (this.#ended) break;
      if (d.index === this.#released.length) {
        this.#release(d, out);
        // What overtook it may follow now.
        for (let next = this.#held.get(this.#released.length); next && !this.#ended; ) {
          this.#held.delete(next.index);
          this.#release(next, out);
          next = this.#held.get(this.#released.length);
        }
      } else if (d.index > this.#released.length && !this.#held.has(d.index) && this.#held.size < MAX_HELD) {
        this.#held.set(d.index, d);
      }
      // Anything else was told before (an index already released or held): dropped.
    }
    if (this.#ended) this.#held.clear();
    return out;
  }

  /** Releases `d` (the next index) unless it breaks the bounds, which end the log. */
  #release(d: TokenDelta, out: TokenDelta[]): void {
    if (
      this.#released.length > GENERATE_LIMITS.maxTokens ||
      this.#chars + d.text.length > GENERATE_LIMITS.textChars
    ) {
      this.#ended = true;
      return;
    }
    this.#released.push(d);
    this.#chars += d.text.length;
    out.push(d);
    if (d.token === null) this.#ended = true;
  }
}

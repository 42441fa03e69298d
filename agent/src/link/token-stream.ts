import { GENERATE_LIMITS, type TokenDelta } from "@ncn/protocol";

/** Deltas produced within this long of the last frame go out together in the next one (ms). */
export const TOKEN_WINDOW_MS = 5;

export interface TokenStreamOptions {
  /** Sends one `tokens` frame's deltas; false when it could not be sent. */
  send(deltas: TokenDelta[]): boolean;
  /** Coalescing window (default `TOKEN_WINDOW_MS`). */
  windowMs?: number;
  /** Deltas per frame (default and most: `GENERATE_LIMITS.deltasPerFrame`). */
  maxDeltas?: number;
}

/**
 * Sends one streaming task's token deltas as they come, in `tokens` frames: a delta that
 * follows a quiet spell (the first one included) goes out at once; those that come within
 * `windowMs` of the last frame wait for the window to close and go out together, so a fast
 * model sends a frame per window, not per token. The stream stops for good when the task ends
 * without a result (`abort`), when a frame could not be sent (the next ones would leave a gap)
 * or when a delta breaks the frame's bounds: the result still carries the whole text.
 */
export class TokenStream {
  readonly #o: Required<TokenStreamOptions>;
  #pending: TokenDelta[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #lastSentAt = Number.NEGATIVE_INFINITY;
  #nextIndex = 0;
  #closed = false;
  /** Frames sent so far. */
  frames = 0;

  constructor(options: TokenStreamOptions) {
    this.#o = {
      windowMs: TOKEN_WINDOW_MS,
      ...options,
      maxDeltas: Math.min(
        options.maxDeltas ?? GENERATE_LIMITS.deltasPerFrame,
        GENERATE_LIMITS.deltasPerFrame,
      ),
    };
  }

  get closed(): boolean {
    return this.#closed;
  }

  push(delta: TokenDelta): void {
    if (this.#closed) return;
    if (delta.index !== this.#nextIndex || delta.text.length > GENERATE_LIMITS.deltaChars) {
      // Not what a frame may carry: what came before still goes out, nothing after it.
      this.end();
      return;
    }
    this.#nextIndex++;
    this.#pending.push(delta);
    const since = performance.now() - this.#lastSentAt;
    if (this.#pending.length >= this.#o.maxDeltas || (since >= this.#o.windowMs && !this.#timer)) {
      this.#flush();
    } else {
      this.#timer ??= setTimeout(() => this.#flush(), Math.max(0, this.#o.windowMs - since));
    }
  }

  /** The task produced its result: what waits goes out now (before the result frame). */
  end(): void {
    if (this.#closed) return;
    this.#flush();
    this.#closed = true;
  }

  /** The task ended without a result (failed, cancelled, past its deadline): nothing more goes out. */
  abort(): void {
    this.#clearTimer();
    this.#pending = [];
    this.#closed = true;
  }

  #flush(): void {
    this.#clearTimer();
    if (this.#closed || this.#pending.length === 0) return;
    const deltas = this.#pending;
    this.#pending = [];
    this.#lastSentAt = performance.now();
    if (this.#o.send(deltas)) this.frames++;
    else this.abort();
  }

  #clearTimer(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}

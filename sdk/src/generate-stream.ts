import type { InferenceResponse, TokenEvent } from "@ncn/protocol";

/**
 * A streaming text generation (`NcnClient.generateStream`): iterate it for the tokens as the
 * agent produces them, and await `response` for the final answer.
 *
 * The tokens come before validation: show them, but rely only on `response`. When it resolves
 * the request is `returned`, its `result.text` is what the validators checked and what the
 * receipt binds (the tokens' texts joined), and it is charged. When the request fails (its
 * agent lost mid-stream: `STREAM_INTERRUPTED`), the iteration and `response` throw the typed
 * error and nothing is charged. Leaving the loop early cancels the request.
 */
export interface GenerateStream extends AsyncIterable<TokenEvent> {
  readonly requestId: string;
  /** The final response (`returned`, with the validated result and its receipt), or the typed error. */
  readonly response: Promise<InferenceResponse>;
}

/** Tokens handed from the reader of the event stream to whoever iterates it (one consumer). */
export class TokenQueue {
  #items: TokenEvent[] = [];
  #ended = false;
  #error: { error: unknown } | undefined;
  #wake: (() => void) | undefined;
  #next = 0;

  /** A token from the stream; one already seen (a replay) is skipped. */
  push(token: TokenEvent): void {
    if (token.index < this.#next) return;
    this.#next = token.index + 1;
    this.#items.push(token);
    this.#notify();
  }

  end(): void {
    this.#ended = true;
    this.#notify();
  }

  fail(error: unknown): void {
    this.#error ??= { error };
    this.#notify();
  }

  /** The tokens in order; throws the stream's error once the tokens before it are taken. */
  async *drain(onLeave: () => void): AsyncGenerator<TokenEvent, void> {
    let finished = false;
    try {
      for (;;) {
        const item = this.#items.shift();
        if (item) {
          yield item;
          continue;
        }
        if (this.#error) throw this.#error.error;
        if (this.#ended) {
          finished = true;
          return;
        }
        await new Promise<void>((r) => {
          this.#wake = r;
        });
      }
    } catch (e) {
      finished = true;
      throw e;
    } finally {
      if (!finished) onLeave();
    }
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = undefined;
    wake?.();
  }
}

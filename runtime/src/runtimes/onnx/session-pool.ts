interface Entry<S> {
  session: Promise<S>;
  users: number;
  lastUsed: number;
}

export interface SessionPoolOptions<S> {
  /** Warm sessions kept when idle; sessions in use are never closed. */
  capacity: number;
  close: (session: S) => Promise<void>;
}

/**
 * Least-recently-used pool of warm inference sessions keyed by model hash. Creation is
 * shared between concurrent callers; a session is closed only when nobody uses it.
 */
export class SessionPool<S> {
  readonly #entries = new Map<string, Entry<S>>();
  readonly #capacity: number;
  readonly #close: (session: S) => Promise<void>;
  #tick = 0;

  constructor(options: SessionPoolOptions<S>) {
    this.#capacity = Math.max(1, options.capacity);
    this.#close = options.close;
  }

  get size(): number {
    return this.#entries.size;
  }

  keys(): string[] {
    return [...this.#entries.keys()];
  }

  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Runs `fn` with the session for `key`, creating it with `create` when absent. */
  async use<T>(key: string, create: () => Promise<S>, fn: (session: S) => Promise<T>): Promise<T> {
    let entry = this.#entries.get(key);
    if (!entry) {
      entry = { session: create(), users: 0, lastUsed: 0 };
      this.#entries.set(key, entry);
    }
    entry.users++;
    entry.lastUsed = ++this.#tick;
    try {
      let session: S;
      try {
        session = await entry.session;
      } catch (e) {
        if (this.#entries.get(key) === entry) this.#entries.delete(key);
        throw e;
      }
      return await fn(session);
    } finally {
      entry.users--;
      await this.#trim();
    }
  }

  async #trim(): Promise<void> {
    while (this.#entries.size > this.#capacity) {
      let victim: [string, Entry<S>] | undefined;
      for (const kv of this.#entries) {
        if (kv[1].users === 0 && (!victim || kv[1].lastUsed < victim[1].lastUsed)) victim = kv;
      }
      if (!victim) return;
      this.#entries.delete(victim[0]);
      await this.#close(await victim[1].session);
    }
  }

  /** Closes every idle session and forgets the rest once their users finish. */
  async clear(): Promise<void> {
    const entries = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of entries) {
      try {
        await this.#close(await e.session);
      } catch {
        // A session that failed to open has nothing to close.
      }
    }
  }
}

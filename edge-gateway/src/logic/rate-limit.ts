/** Token bucket state for one client. */
export interface Bucket {
  tokens: number;
  updatedAt: number;
}

/**
 * Takes one token from a bucket of `capacity` refilled at `perSecond`; returns the new
 * bucket and whether the request may pass, and if not, how long to wait.
 */
export function takeToken(
  bucket: Bucket | undefined,
  now: number,
  capacity: number,
  perSecond: number,
): { bucket: Bucket; allowed: boolean; retryAfterMs: number } {
  const prev = bucket ?? { tokens: capacity, updatedAt: now };
  const tokens = Math.min(capacity, prev.tokens + ((now - prev.updatedAt) / 1000) * perSecond);
  if (tokens >= 1) return { bucket: { tokens: tokens - 1, updatedAt: now }, allowed: true, retryAfterMs: 0 };
  return {
    bucket: { tokens, updatedAt: now },
    allowed: false,
    retryAfterMs: Math.ceil(((1 - tokens) / perSecond) * 1000),
  };
}

/** A bounded in-memory map of buckets (per isolate); oldest entries are dropped first. */
export class RateLimiter {
  readonly #buckets = new Map<string, Bucket>();
  constructor(
    readonly capacity: number,
    readonly perSecond: number,
    readonly maxClients = 10_000,
  ) {}

  check(client: string, now = Date.now()): { allowed: boolean; retryAfterMs: number } {
    const r = takeToken(this.#buckets.get(client), now, this.capacity, this.perSecond);
    this.#buckets.delete(client);
    this.#buckets.set(client, r.bucket);
    if (this.#buckets.size > this.maxClients) {
      const oldest = this.#buckets.keys().next().value;
      if (oldest !== undefined) this.#buckets.delete(oldest);
    }
    return { allowed: r.allowed, retryAfterMs: r.retryAfterMs };
  }
}

export interface BackoffOptions {
  /** First delay ceiling (ms). */
  baseMs: number;
  /** Largest delay (ms). */
  maxMs: number;
  random?: () => number;
}

export const DEFAULT_BACKOFF: BackoffOptions = { baseMs: 250, maxMs: 30_000 };

/**
 * Delay before reconnect attempt `attempt` (0-based): exponential growth with full
 * jitter, so agents cut off together do not come back together.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = DEFAULT_BACKOFF): number {
  const ceiling = Math.min(options.maxMs, options.baseMs * 2 ** Math.min(attempt, 30));
  return Math.round((options.random ?? Math.random)() * ceiling);
}

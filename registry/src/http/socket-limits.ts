/** Limits on the validation sockets one node keeps open. */
export interface SocketLimits {
  /** Sockets open at once, all callers together. */
  maxSockets: number;
  /** Sockets open at once from one remote address. */
  maxSocketsPerAddress: number;
  /** Messages one socket may have in validation at once; more are answered RATE_LIMITED. */
  maxInFlight: number;
  /** Messages per second one socket may send on average... */
  messagesPerSecond: number;
  /** ...and at once after a quiet spell. Past that the socket is closed. */
  burst: number;
}

/**
 * A gateway keeps one socket per validator, so a handful per address is generous; the
 * in-flight cap matches the stream batches a gateway has outstanding to one validator.
 */
export const DEFAULT_SOCKET_LIMITS: SocketLimits = {
  maxSockets: 256,
  maxSocketsPerAddress: 8,
  maxInFlight: 64,
  messagesPerSecond: 500,
  burst: 1_000,
};

/** Why a socket was not given a slot. */
export type SlotRefusal = "too_many_sockets" | "too_many_sockets_from_address";

/**
 * Counts open sockets in total and per remote address. `take` before the upgrade, `release`
 * when the socket closes (or the upgrade fails).
 */
export class SocketSlots {
  readonly #limits: Pick<SocketLimits, "maxSockets" | "maxSocketsPerAddress">;
  readonly #byAddress = new Map<string, number>();
  #open = 0;

  constructor(limits: Pick<SocketLimits, "maxSockets" | "maxSocketsPerAddress">) {
    this.#limits = limits;
  }

  get open(): number {
    return this.#open;
  }

  /** Takes a slot for `address`, or says which cap is reached. */
  take(address: string): SlotRefusal | undefined {
    if (this.#open >= this.#limits.maxSockets) return "too_many_sockets";
    const mine = this.#byAddress.get(address) ?? 0;
    if (mine >= this.#limits.maxSocketsPerAddress) return "too_many_sockets_from_address";
    this.#byAddress.set(address, mine + 1);
    this.#open++;
    return undefined;
  }

  release(address: string): void {
    const mine = this.#byAddress.get(address) ?? 0;
    if (mine === 0) return;
    if (mine === 1) this.#byAddress.delete(address);
    else this.#byAddress.set(address, mine - 1);
    this.#open--;
  }
}

/** A token bucket: `tokens` left at time `at` (ms). */
export interface RateBucket {
  tokens: number;
  at: number;
}

/**
 * Spends one token from `bucket` refilled at `perSecond` up to `burst`. Returns the new
 * bucket and whether a token was there to spend.
 *
 * @example const { bucket: next, allowed } = spendToken(bucket, Date.now(), 500, 1000)
 */
export function spendToken(
  bucket: RateBucket,
  now: number,
  perSecond: number,
  burst: number,
): { bucket: RateBucket; allowed: boolean } {
  const refilled = Math.min(burst, bucket.tokens + (Math.max(0, now - bucket.at) * perSecond) / 1000);
  if (refilled < 1) return { bucket: { tokens: refilled, at: now }, allowed: false };
  return { bucket: { tokens: refilled - 1, at: now }, allowed: true };
}

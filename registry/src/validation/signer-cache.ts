/**
 * Signers already recovered, by what was signed and the signature, so that a signature seen
 * again (a session's voucher on every call of a stream, an agent batch split over several
 * calls) is recovered once. Bounded: past `capacity` the least recently used entry goes.
 * Concurrent lookups of one key share one recovery; a failed recovery is not kept.
 *
 * @example
 * const signer = await cache.recover(`voucher:${sessionId}:${amount}:${signature}`, () =>
 *   recoverTypedDataAddress({ ...typedData(domain, "Voucher", message), signature }),
 * );
 */
export class SignerCache {
  private readonly entries = new Map<string, Promise<`0x${string}`>>();
  private readonly capacity: number;
  /** Recoveries actually run (misses), for tests and counters. */
  recoveries = 0;

  constructor(capacity = 4096) {
    this.capacity = Math.max(1, capacity);
  }

  get size(): number {
    return this.entries.size;
  }

  /** The lowercase signer under `key`, recovering it with `run` when not known. */
  recover(key: string, run: () => Promise<string>): Promise<`0x${string}`> {
    const known = this.entries.get(key);
    if (known) {
      this.entries.delete(key);
      this.entries.set(key, known);
      return known;
    }
    this.recoveries++;
    const pending = run().then((address) => address.toLowerCase() as `0x${string}`);
    this.entries.set(key, pending);
    pending.catch(() => {
      if (this.entries.get(key) === pending) this.entries.delete(key);
    });
    while (this.entries.size > this.capacity) {
      const oldest = this.entries.keys().next().value;
      if (oldest === undefined) break;
      this.entries.delete(oldest);
    }
    return pending;
  }
}

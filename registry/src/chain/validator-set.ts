/** The validator set attestations are counted against; the real one reads `ValidatorRegistry`. */
export interface ValidatorSetReader {
  /** Active validator keys (lowercase). */
  active(): Promise<readonly `0x${string}`[]>;
  /** Attestation threshold M. */
  threshold(): Promise<number>;
  /** Stake of a key in NCN base units (0 when unknown). */
  stakeOf(validator: `0x${string}`): Promise<bigint>;
}

/** A fixed set from configuration, for networks that run without a validator registry. */
export function staticValidatorSet(
  keys: readonly string[],
  threshold = Math.max(1, keys.length),
): ValidatorSetReader {
  const lower = keys.map((k) => k.toLowerCase() as `0x${string}`);
  return {
    active: async () => lower,
    threshold: async () => threshold,
    stakeOf: async () => 0n,
  };
}

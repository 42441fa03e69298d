import { type Hex, toHex } from "viem";

/**
 * bytes32 batch id from a counter. Ids are spent per gateway in a bitmap of 256 ids per storage
 * word, so consecutive counters make settlements cheapest.
 */
export function batchIdOf(counter: bigint | number): Hex {
  return toHex(BigInt(counter), { size: 32 });
}

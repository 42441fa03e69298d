import { type Hex, toHex } from "viem";

/**
 * A fresh salt: 8 random bytes in a 32-byte word. Unique enough per (client, gateway), and the
 * leading zero bytes make every settlement of the session cheaper in calldata.
 */
export function randomSalt(): Hex {
  return toHex(crypto.getRandomValues(new Uint8Array(8)), { size: 32 });
}

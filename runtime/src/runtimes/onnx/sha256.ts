import type { Sha256 } from "@ncn/protocol";

/** sha256 of bytes as the protocol writes it: 0x + 64 lowercase hex digits. */
export function sha256Hex(bytes: Uint8Array): Sha256 {
  const h = new Bun.CryptoHasher("sha256");
  h.update(bytes);
  return `0x${h.digest("hex")}` as Sha256;
}

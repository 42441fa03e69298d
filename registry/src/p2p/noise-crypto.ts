import { getCiphers } from "node:crypto";
import type { ICryptoInterface } from "@libp2p/noise";
import { asCrypto, defaultCrypto } from "@libp2p/noise/crypto";

const CHACHA20_POLY1305 = "chacha20-poly1305";

/**
 * The crypto noise encrypts every connection with. Noise's default seals frames of 1,200
 * bytes or more with `node:crypto`'s chacha20-poly1305, which Bun's crypto (BoringSSL) does
 * not offer: there every such frame threw `ERR_CRYPTO_UNKNOWN_CIPHER` and closed the
 * connection, so the gossip and DHT messages in flight on it were lost, and the peers
 * re-dialled. Where the runtime lacks the cipher, frames of every size go through the
 * WebAssembly implementation noise already uses for small ones (same bytes on the wire, so
 * both kinds of peer interoperate); hashing and key exchange stay with `node:crypto`.
 */
export function noiseCrypto(hasNodeChaCha = getCiphers().includes(CHACHA20_POLY1305)): ICryptoInterface {
  if (hasNodeChaCha) return defaultCrypto;
  return {
    ...defaultCrypto,
    chaCha20Poly1305Encrypt: asCrypto.chaCha20Poly1305Encrypt,
    chaCha20Poly1305Decrypt: asCrypto.chaCha20Poly1305Decrypt,
  };
}

import { createRequire } from "node:module";
import { bytesToHex, hashMessage, hexToBytes, keccak256, recoverAddress, serializeSignature } from "viem";
import { sign } from "viem/accounts";
import type { RecoverTextSigner } from "./text-signer.ts";

/**
 * secp256k1 signing and recovery of 32-byte digests for the processes that sign or check
 * on every request (agents, validators): libsecp256k1 through the `secp256k1` package's
 * prebuilt binding when it loads (about 20x faster than the JavaScript implementation),
 * else the JavaScript one. Same signatures either way (RFC 6979, low s, v = 27 + recovery
 * id), tested equal. Not for the Worker or browsers: they use viem directly.
 */
interface Binding {
  ecdsaSign(msg32: Uint8Array, seckey: Uint8Array): { signature: Uint8Array; recid: number };
  ecdsaRecover(sig: Uint8Array, recid: number, msg32: Uint8Array, compressed: boolean): Uint8Array;
}

let binding: Binding | null | undefined;

function native(): Binding | null {
  if (binding === undefined) {
    try {
      // The binding file alone (not the package's entry, which would fall back to a slow
      // pure-JS implementation on its own): it throws when no prebuilt library loads.
      binding = createRequire(import.meta.url)("secp256k1/bindings.js") as Binding;
      if (process.env.NCN_SECP256K1 === "js") binding = null;
    } catch {
      binding = null;
    }
  }
  return binding;
}

/** Which implementation is in use. */
export function secp256k1Backend(): "native" | "js" {
  return native() ? "native" : "js";
}

/** Signs a digest: 65-byte r || s || v hex, as viem's `sign` serialises it. */
export async function signDigest(digest: `0x${string}`, privateKey: `0x${string}`): Promise<`0x${string}`> {
  const b = native();
  if (!b) return serializeSignature(await sign({ hash: digest, privateKey }));
  const { signature, recid } = b.ecdsaSign(hexToBytes(digest), hexToBytes(privateKey));
  const out = new Uint8Array(65);
  out.set(signature, 0);
  out[64] = 27 + recid;
  return bytesToHex(out);
}

/** The address that signed a digest; throws on a malformed signature. */
export async function recoverDigest(digest: `0x${string}`, signature: `0x${string}`): Promise<`0x${string}`> {
  const b = native();
  if (!b) return recoverAddress({ hash: digest, signature });
  const sig = hexToBytes(signature);
  if (sig.length !== 65) throw new Error("signature must be 65 bytes");
  const v = sig[64] as number;
  const recid = v >= 27 ? v - 27 : v;
  if (recid !== 0 && recid !== 1) throw new Error("invalid recovery id");
  const pub = b.ecdsaRecover(sig.subarray(0, 64), recid, hexToBytes(digest), false);
  const hash = keccak256(pub.subarray(1), "bytes");
  return checksum(bytesToHex(hash.subarray(12)));
}

/** The address that signed a text (EIP-191), as viem's `recoverMessageAddress` answers it. */
export const recoverTextSignerNative: RecoverTextSigner = (message, signature) =>
  recoverDigest(hashMessage(message), signature);

function checksum(address: `0x${string}`): `0x${string}` {
  const hex = address.slice(2).toLowerCase();
  const h = keccak256(new TextEncoder().encode(hex), "bytes");
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const c = hex[i] as string;
    const nib = ((h[i >> 1] as number) >> (i % 2 === 0 ? 4 : 0)) & 0xf;
    out += nib >= 8 ? c.toUpperCase() : c;
  }
  return out as `0x${string}`;
}

import { keccak256 as viemKeccak } from "viem";

/**
 * keccak-256 of bytes, for the protocol's own hashes (receipt digests, tensor and id
 * hashes, Merkle nodes). The default is viem's JavaScript implementation, which runs
 * everywhere (the Worker included). Processes that hash on every request (agents,
 * validators) call `useFastKeccak()` once at start: a WebAssembly implementation about
 * four times faster for the short inputs hashed here. Same digests either way, tested.
 */
export type KeccakFn = (data: Uint8Array) => Uint8Array;

let impl: KeccakFn = (data) => viemKeccak(data, "bytes");
let fast = false;

export function keccakBytes(data: Uint8Array): Uint8Array {
  return impl(data);
}

export function keccakHex(data: Uint8Array): `0x${string}` {
  return hexOfBytes(impl(data));
}

/** Switches to the WebAssembly implementation; false (and nothing changes) where it cannot load. */
export async function useFastKeccak(): Promise<boolean> {
  if (fast) return true;
  try {
    const { createKeccak } = await import("hash-wasm");
    const hasher = await createKeccak(256);
    const candidate: KeccakFn = (data) => {
      hasher.init();
      hasher.update(data);
      return hasher.digest("binary");
    };
    // Refuse an implementation that disagrees with the reference on a known input.
    const probe = new TextEncoder().encode("ncn");
    if (hexOfBytes(candidate(probe)) !== hexOfBytes(viemKeccak(probe, "bytes"))) return false;
    impl = candidate;
    fast = true;
    return true;
  } catch {
    return false;
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

export function hexOfBytes(bytes: Uint8Array): `0x${string}` {
  let s = "0x";
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i] as number];
  return s as `0x${string}`;
}

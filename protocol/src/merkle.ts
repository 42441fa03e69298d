import { ProtocolError } from "./errors.ts";
import { hexOfBytes, keccakBytes } from "./keccak.ts";
import { type Bytes32, isBytes32 } from "./primitives.ts";

export interface MerkleBatch {
  root: Bytes32;
  /** Proof for leaf i, verifiable with OpenZeppelin's `MerkleProof.verify(proof, root, leaf)`. */
  proof(index: number): Bytes32[];
  leaves: readonly `0x${string}`[];
}

const BYTES32 = /^0x[0-9a-fA-F]{64}$/;

/**
 * A Merkle tree over bytes32 leaves (receipt digests) that OpenZeppelin's
 * `MerkleProof` accepts: sorted-pair keccak256, leaves used as given, laid out exactly as
 * `SimpleMerkleTree.of` lays them out (leaves sorted, the same root and proofs; tested
 * equal). Written out directly because it runs on every hot path (agents, gateway,
 * validators, settlement) and the generic library costs ~50 µs per leaf.
 *
 * @example
 * const batch = merkleBatch(receipts.map((r) => receiptDigest(domain, r)));
 * verifyMerkleProof(batch.root, batch.leaves[0], batch.proof(0)); // true
 */
export function merkleBatch(leaves: readonly `0x${string}`[]): MerkleBatch {
  if (leaves.length === 0) throw new ProtocolError("INVALID_INPUT", "a Merkle batch needs at least one leaf");
  const sorted = leaves.map((l) => bytes32Node(l.toLowerCase(), `Merkle leaf is not bytes32: ${l}`)).sort();
  const n = sorted.length;
  const tree = new Array<Bytes32>(2 * n - 1);
  const position = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const at = tree.length - 1 - i;
    tree[at] = sorted[i] as Bytes32;
    position.set(sorted[i] as string, at);
  }
  for (let i = tree.length - 1 - n; i >= 0; i--) {
    tree[i] = bytes32Node(hashPair(tree[2 * i + 1] as Bytes32, tree[2 * i + 2] as Bytes32), "not a hash");
  }
  return {
    root: tree[0] as Bytes32,
    leaves,
    proof(index: number) {
      const leaf = leaves[index];
      if (leaf === undefined) throw new ProtocolError("INVALID_INPUT", `no leaf at index ${index}`);
      let at = position.get(leaf.toLowerCase()) as number;
      const proof: Bytes32[] = [];
      while (at > 0) {
        proof.push(tree[at % 2 === 1 ? at + 1 : at - 1] as Bytes32);
        at = Math.floor((at - 1) / 2);
      }
      return proof;
    },
  };
}

export function verifyMerkleProof(
  root: `0x${string}`,
  leaf: `0x${string}`,
  proof: readonly `0x${string}`[],
): boolean {
  if (!BYTES32.test(root) || !BYTES32.test(leaf) || !proof.every((p) => BYTES32.test(p))) return false;
  let node = leaf.toLowerCase() as `0x${string}`;
  for (const sibling of proof) node = hashPair(node, sibling.toLowerCase() as `0x${string}`);
  return node === root.toLowerCase();
}

/** A tree node: a leaf as given (lowercased) or a hash, which is 32 bytes of lowercase hex. */
function bytes32Node(hex: string, problem: string): Bytes32 {
  if (!isBytes32(hex)) throw new ProtocolError("INVALID_INPUT", problem);
  return hex;
}

/** OpenZeppelin's `_hashPair`: keccak256 of the two nodes, smaller first. Takes lowercase hex. */
export function hashPair(a: `0x${string}`, b: `0x${string}`): `0x${string}` {
  const buf = new Uint8Array(64);
  const [lo, hi] = a < b ? [a, b] : [b, a];
  writeHex(buf, 0, lo);
  writeHex(buf, 32, hi);
  return hexOfBytes(keccakBytes(buf));
}

function nibble(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  throw new ProtocolError("INVALID_INPUT", "not a hex digit");
}

function writeHex(buf: Uint8Array, offset: number, hex: string): void {
  for (let i = 0; i < 32; i++) {
    buf[offset + i] = (nibble(hex.charCodeAt(2 + 2 * i)) << 4) | nibble(hex.charCodeAt(3 + 2 * i));
  }
}

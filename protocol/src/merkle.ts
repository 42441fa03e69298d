import { SimpleMerkleTree } from "@openzeppelin/merkle-tree";
import { ProtocolError } from "./errors.ts";

export interface MerkleBatch {
  root: `0x${string}`;
  /** Proof for leaf i, verifiable with OpenZeppelin's `MerkleProof.verify(proof, root, leaf)`. */
  proof(index: number): `0x${string}`[];
  leaves: readonly `0x${string}`[];
}

/**
 * A Merkle tree over bytes32 leaves (receipt digests) that OpenZeppelin's
 * `MerkleProof` accepts: sorted-pair keccak256, leaves used as given.
 *
 * @example
 * const batch = merkleBatch(receipts.map((r) => receiptDigest(domain, r)));
 * verifyMerkleProof(batch.root, batch.leaves[0], batch.proof(0)); // true
 */
export function merkleBatch(leaves: readonly `0x${string}`[]): MerkleBatch {
  if (leaves.length === 0) throw new ProtocolError("INVALID_INPUT", "a Merkle batch needs at least one leaf");
  for (const l of leaves) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(l))
      throw new ProtocolError("INVALID_INPUT", `Merkle leaf is not bytes32: ${l}`);
  }
  const tree = SimpleMerkleTree.of(leaves as `0x${string}`[]);
  return {
    root: tree.root as `0x${string}`,
    leaves,
    proof(index: number) {
      const leaf = leaves[index];
      if (leaf === undefined) throw new ProtocolError("INVALID_INPUT", `no leaf at index ${index}`);
      return tree.getProof(leaf) as `0x${string}`[];
    },
  };
}

export function verifyMerkleProof(
  root: `0x${string}`,
  leaf: `0x${string}`,
  proof: readonly `0x${string}`[],
): boolean {
  return SimpleMerkleTree.verify(root, leaf, proof as `0x${string}`[]);
}

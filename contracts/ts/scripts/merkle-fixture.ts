import { digestOf, idToBytes32, merkleBatch, ncnDomain, type ReceiptMessage } from "@ncn/protocol";
import { encodePacked, type Hex, keccak256, slice } from "viem";

/** Tree sizes the cross-language check covers (odd sizes and a full 100-receipt batch). */
export const merkleFixtureSizes = [1, 2, 3, 7, 100] as const;

/** Fixed domain the fixture's receipt digests are computed under. */
export const merkleFixtureDomain = ncnDomain(31337, "0x00000000000000000000000000000000000ca5e5");

export interface MerkleFixture {
  domain: typeof merkleFixtureDomain;
  sizes: number[];
  trees: { size: number; root: Hex; leaves: Hex[]; proofs: Hex[][] }[];
}

function receipt(tree: number, i: number): ReceiptMessage {
  const w = (label: string) =>
    keccak256(encodePacked(["string", "uint256", "uint256"], [label, BigInt(tree), BigInt(i)]));
  return {
    requestId: idToBytes32(`fixture-${tree}-${i}`),
    subnetId: idToBytes32("fixture-subnet"),
    modelId: idToBytes32("fixture-model"),
    modelHash: w("model"),
    inputHash: w("input"),
    outputHash: w("output"),
    agent: slice(w("agent"), 12),
    price: BigInt(1_000 + i),
    startedAt: BigInt(1_700_000_000_000 + i),
    finishedAt: BigInt(1_700_000_000_250 + i),
  };
}

/**
 * Receipt-digest Merkle trees built with the protocol's merkleBatch (OpenZeppelin SimpleMerkleTree),
 * with every leaf's proof, for contracts/test/MerkleFixture.t.sol to verify with MerkleProof.
 */
export function buildMerkleFixture(): MerkleFixture {
  return {
    domain: merkleFixtureDomain,
    sizes: [...merkleFixtureSizes],
    trees: merkleFixtureSizes.map((size) => {
      const leaves = Array.from({ length: size }, (_, i) =>
        digestOf(merkleFixtureDomain, "InferenceReceipt", receipt(size, i)),
      );
      const batch = merkleBatch(leaves);
      return { size, root: batch.root, leaves, proofs: leaves.map((_, i) => batch.proof(i)) };
    }),
  };
}

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { concat, keccak256, toHex } from "viem";
import { BaseError } from "./errors.ts";
import { merkleBatch, verifyMerkleProof } from "./merkle.ts";

const leaf = (i: number) => keccak256(toHex(`receipt-${i}`));

// OpenZeppelin MerkleProof.processProof, written out: sorted-pair keccak256.
function processProof(proof: readonly `0x${string}`[], start: `0x${string}`): `0x${string}` {
  let computed = start;
  for (const p of proof)
    computed =
      computed.toLowerCase() < p.toLowerCase()
        ? keccak256(concat([computed, p]))
        : keccak256(concat([p, computed]));
  return computed;
}

describe("Merkle batches", () => {
  for (const size of [1, 2, 3, 7, 100, 1000]) {
    test(`every proof of a ${size}-leaf batch verifies, as MerkleProof would compute it`, () => {
      const leaves = Array.from({ length: size }, (_, i) => leaf(i));
      const batch = merkleBatch(leaves);
      for (let i = 0; i < size; i += Math.max(1, Math.floor(size / 50))) {
        const proof = batch.proof(i);
        expect(verifyMerkleProof(batch.root, leaves[i] as `0x${string}`, proof)).toBe(true);
        expect(processProof(proof, leaves[i] as `0x${string}`)).toBe(batch.root);
      }
    });
  }

  test("a leaf outside the batch, or a wrong proof, does not verify", () => {
    fc.assert(
      fc.property(fc.integer({ min: 2, max: 64 }), fc.nat(), (size, pick) => {
        const leaves = Array.from({ length: size }, (_, i) => leaf(i));
        const batch = merkleBatch(leaves);
        const i = pick % size;
        expect(verifyMerkleProof(batch.root, leaf(size + 1), batch.proof(i))).toBe(false);
        const other = (i + 1) % size;
        if (leaves[other] !== leaves[i])
          expect(verifyMerkleProof(batch.root, leaves[i] as `0x${string}`, batch.proof(other))).toBe(false);
      }),
      { numRuns: 50 },
    );
  });

  test("empty batches and non-bytes32 leaves are refused", () => {
    expect(() => merkleBatch([])).toThrow(BaseError);
    expect(() => merkleBatch(["0x1234"])).toThrow(/not bytes32/);
  });
});

describe("Merkle batches match OpenZeppelin's SimpleMerkleTree", () => {
  test("same root and same proofs for every size up to 70, and for 1000", async () => {
    const { SimpleMerkleTree } = await import("@openzeppelin/merkle-tree");
    for (const size of [...Array.from({ length: 70 }, (_, i) => i + 1), 1000]) {
      const leaves = Array.from({ length: size }, (_, i) => leaf(i * 7 + size));
      const ours = merkleBatch(leaves);
      const theirs = SimpleMerkleTree.of(leaves);
      expect<string>(ours.root).toBe(theirs.root);
      for (let i = 0; i < size; i += Math.max(1, Math.floor(size / 20))) {
        expect<string[]>(ours.proof(i)).toEqual(theirs.getProof(leaves[i] as string));
      }
    }
  });
});

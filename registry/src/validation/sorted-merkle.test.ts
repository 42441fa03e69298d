import { describe, expect, test } from "bun:test";
import { merkleBatch, verifyMerkleProof } from "@ncn/protocol";
import { SortedMerkle } from "./sorted-merkle.ts";

function leaf(): `0x${string}` {
  return `0x${Buffer.from(crypto.getRandomValues(new Uint8Array(32))).toString("hex")}`;
}

describe("SortedMerkle", () => {
  test("roots equal merkleBatch's for every size, duplicates included", () => {
    for (let n = 1; n <= 70; n++) {
      const leaves = Array.from({ length: n }, leaf);
      if (n > 3) leaves[n - 1] = leaves[1] ?? leaf();
      expect(new SortedMerkle().root(leaves)).toBe(merkleBatch(leaves).root.toLowerCase() as `0x${string}`);
    }
  });

  test("accepts exactly the proofs verifyMerkleProof accepts", () => {
    for (const n of [1, 2, 3, 7, 64, 100]) {
      const leaves = Array.from({ length: n }, leaf);
      const tree = merkleBatch(leaves);
      const merkle = new SortedMerkle();
      for (const [i, l] of leaves.entries()) {
        const proof = tree.proof(i);
        expect(merkle.verify(tree.root, l, proof)).toBe(true);
        expect(verifyMerkleProof(tree.root, l, proof)).toBe(true);
        const other = leaves[(i + 1) % n] ?? l;
        if (other !== l) {
          expect(merkle.verify(tree.root, other, proof)).toBe(verifyMerkleProof(tree.root, other, proof));
          expect(merkle.verify(tree.root, other, proof)).toBe(false);
        }
        expect(merkle.verify(tree.root, leaf(), proof)).toBe(false);
        if (proof.length > 0) expect(merkle.verify(tree.root, l, proof.slice(1))).toBe(false);
      }
    }
  });

  test("checking every proof of one tree hashes each inner node once", () => {
    const leaves = Array.from({ length: 64 }, leaf);
    const tree = merkleBatch(leaves);
    const merkle = new SortedMerkle();
    for (const [i, l] of leaves.entries()) expect(merkle.verify(tree.root, l, tree.proof(i))).toBe(true);
    expect(merkle.hashes).toBe(63);
    // The same leaves' root is then known without hashing again.
    expect(merkle.root(leaves)).toBe(tree.root.toLowerCase() as `0x${string}`);
    expect(merkle.hashes).toBe(63);
  });
});

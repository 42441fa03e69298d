import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { verifyMerkleProof } from "@ncn/protocol";
import { repoRoot } from "./scripts/artifacts.ts";
import { buildMerkleFixture, merkleFixtureSizes } from "./scripts/merkle-fixture.ts";

const committedPath = join(repoRoot, "contracts", "test", "fixtures", "merkle.json");

describe("Merkle fixture for the Solidity cross-check", () => {
  test("the committed fixture equals a fresh generation (run `npm run gen:merkle -w @ncn/contracts` if not)", () => {
    const committed: unknown = JSON.parse(readFileSync(committedPath, "utf8"));
    expect(committed).toEqual(JSON.parse(JSON.stringify(buildMerkleFixture())));
  });

  test("covers sizes 1, 2, 3, 7 and 100, and every proof verifies in TypeScript too", () => {
    const fixture = buildMerkleFixture();
    expect(fixture.trees.map((t) => t.size)).toEqual([...merkleFixtureSizes]);
    for (const tree of fixture.trees) {
      expect(new Set(tree.leaves).size).toBe(tree.size);
      tree.leaves.forEach((leaf, i) => {
        expect(verifyMerkleProof(tree.root, leaf, tree.proofs[i] ?? [])).toBe(true);
      });
    }
    expect(fixture.trees[0]?.proofs).toEqual([[]]);
  });
});

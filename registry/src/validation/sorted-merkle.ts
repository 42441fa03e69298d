import { hashPair } from "@ncn/protocol";

/**
 * `merkleBatch` / `verifyMerkleProof` of @ncn/protocol (same roots and proofs, tested equal)
 * with each inner node hashed once per call: the proofs of leaves under one root share
 * their upper nodes, so checking n proofs of one tree costs about n hashes instead of
 * n log n.
 *
 * Nodes are lowercase 0x-prefixed bytes32 hex strings (what the schemas and
 * `receiptDigest` produce), so string order is byte order.
 */
export class SortedMerkle {
  /** Parent of (lo, hi), by lo then hi: two lookups of strings whose hashes are cached, no concatenation. */
  private readonly nodes = new Map<string, Map<string, `0x${string}`>>();
  /** keccak256 computations actually run (the rest came from the memo). */
  hashes = 0;

  /** keccak256 of the two nodes, smaller first (OpenZeppelin's `_hashPair`). */
  hashPair(a: `0x${string}`, b: `0x${string}`): `0x${string}` {
    const lo = a < b ? a : b;
    const hi = a < b ? b : a;
    let parents = this.nodes.get(lo);
    if (parents === undefined) {
      parents = new Map();
      this.nodes.set(lo, parents);
    }
    const known = parents.get(hi);
    if (known !== undefined) return known;
    this.hashes++;
    const node = hashPair(lo, hi);
    parents.set(hi, node);
    return node;
  }

  /**
   * Whether `proof` leads from `leaf` to `root` (OpenZeppelin's `MerkleProof.verify`). Nodes
   * are compared as given: pass them lowercase, as the schemas produce them.
   */
  verify(root: `0x${string}`, leaf: `0x${string}`, proof: readonly `0x${string}`[]): boolean {
    let node = leaf;
    for (const sibling of proof) node = this.hashPair(node, sibling);
    return node === root;
  }

  /**
   * Root of `SimpleMerkleTree.of(leaves)` (leaves sorted, laid out as OpenZeppelin's
   * `makeMerkleTree` does): equal to `merkleBatch(leaves).root`.
   */
  root(leaves: readonly `0x${string}`[]): `0x${string}` {
    if (leaves.length === 0) throw new RangeError("a Merkle root needs at least one leaf");
    const sorted = leaves.map((l) => l.toLowerCase() as `0x${string}`).sort();
    const tree = new Array<`0x${string}`>(2 * sorted.length - 1);
    for (const [i, leaf] of sorted.entries()) tree[tree.length - 1 - i] = leaf;
    for (let i = tree.length - 1 - sorted.length; i >= 0; i--) {
      tree[i] = this.hashPair(tree[2 * i + 1] as `0x${string}`, tree[2 * i + 2] as `0x${string}`);
    }
    return tree[0] as `0x${string}`;
  }
}

import {
  Bytes32,
  hashPair,
  type NcnDomain,
  type ReceiptBatchMessage,
  receiptBatchDigest,
  type Signature,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import type { LocalAccount } from "viem";
import { signDigest } from "./sign-receipt.ts";

/** Largest number of receipts one `results` frame may carry (protocol limit). */
export const MAX_BATCH_ITEMS = 1024;

/** Inner nodes hashed between two yields to the event loop (about half a millisecond). */
const NODES_PER_STEP = 32;

/**
 * `merkleBatch(leaves).root` (the layout of OpenZeppelin's makeMerkleTree: 2n-1 nodes,
 * sorted leaves at the end in reverse order, node i = hashPair(child 2i+1, child 2i+2)),
 * computed in steps of `NODES_PER_STEP` nodes with yields between steps.
 */
function* rootSteps(leaves: readonly `0x${string}`[]): Generator<void, `0x${string}`> {
  const n = leaves.length;
  if (n === 0) throw new Error("a receipt batch needs at least one receipt");
  for (const l of leaves) if (!/^0x[0-9a-fA-F]{64}$/.test(l)) throw new Error("receipt digests are 32 bytes");
  const sorted = leaves.map((l) => l.toLowerCase() as `0x${string}`).sort();
  const tree = new Array<`0x${string}`>(2 * n - 1);
  for (let i = 0; i < n; i++) tree[tree.length - 1 - i] = sorted[i] as `0x${string}`;
  let done = 0;
  for (let i = tree.length - 1 - n; i >= 0; i--) {
    tree[i] = hashPair(tree[2 * i + 1] as `0x${string}`, tree[2 * i + 2] as `0x${string}`);
    if (++done % NODES_PER_STEP === 0 && i > 0) yield;
  }
  return tree[0] as `0x${string}`;
}

/**
 * Root of the protocol's receipt Merkle tree (`merkleBatch(leaves).root`: OpenZeppelin's
 * `SimpleMerkleTree` with sorted leaves and sorted-pair keccak256 nodes), without the
 * proofs the agent never needs.
 */
export function receiptsRoot(leaves: readonly `0x${string}`[]): `0x${string}` {
  const steps = rootSteps(leaves);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** `receiptsRoot`, letting the event loop run (frames arrive) between steps of a large tree. */
export async function receiptsRootYielding(leaves: readonly `0x${string}`[]): Promise<`0x${string}`> {
  const steps = rootSteps(leaves);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
}

/** Re-exported: the digest lives in the protocol, shared with validators. */
export { receiptBatchDigest };

export interface SignedReceiptBatch {
  receiptsRoot: Bytes32;
  signature: Signature;
}

/**
 * The agent's one signature over many receipts: the Merkle root of their EIP-712 digests
 * (`receiptDigest(domain, receipt)`, in any order) and an EIP-712 `ReceiptBatch`
 * signature over `{ agent, receiptsRoot, count }`.
 *
 * @example const { receiptsRoot, signature } = await signReceiptBatch(account, domain, digests);
 */
export async function signReceiptBatch(
  account: LocalAccount,
  domain: NcnDomain,
  digests: readonly `0x${string}`[],
): Promise<SignedReceiptBatch> {
  if (digests.length > MAX_BATCH_ITEMS) throw new Error(`at most ${MAX_BATCH_ITEMS} receipts per batch`);
  // A large batch's tree is built in steps so frames keep being received meanwhile; the
  // signature itself is one step of about 0.4 ms.
  const root = v.parse(Bytes32, await receiptsRootYielding(digests));
  const message: ReceiptBatchMessage = { agent: account.address, receiptsRoot: root, count: digests.length };
  const signature = await signDigest(account, receiptBatchDigest(domain, message), () =>
    account.signTypedData(typedData(domain, "ReceiptBatch", message)),
  );
  return { receiptsRoot: root, signature };
}

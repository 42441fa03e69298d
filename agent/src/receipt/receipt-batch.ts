import {
  Bytes32,
  type NcnDomain,
  type ReceiptBatchMessage,
  receiptBatchDigest,
  type Signature,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import { bytesToHex, domainSeparator, hexToBytes, keccak256, type LocalAccount, stringToBytes } from "viem";
import { signDigest } from "./sign-receipt.ts";

/** Largest number of receipts one `results` frame may carry (protocol limit). */
export const MAX_BATCH_ITEMS = 1024;

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  for (let i = 0; i < 32; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return 0;
}

/** Inner nodes hashed between two yields to the event loop (about half a millisecond). */
const NODES_PER_STEP = 32;

/** The tree below, computed in steps of `NODES_PER_STEP` nodes (yields between steps). */
function* rootSteps(leaves: readonly `0x${string}`[]): Generator<void, `0x${string}`> {
  const n = leaves.length;
  if (n === 0) throw new Error("a receipt batch needs at least one receipt");
  const sorted = leaves.map((l) => hexToBytes(l));
  for (const l of sorted) if (l.length !== 32) throw new Error("receipt digests are 32 bytes");
  sorted.sort(compareBytes);
  // The tree layout of OpenZeppelin's makeMerkleTree: 2n-1 nodes, leaves at the end in
  // reverse order, node i = hash(sorted(child 2i+1, child 2i+2)).
  const tree = new Array<Uint8Array>(2 * n - 1);
  for (let i = 0; i < n; i++) tree[tree.length - 1 - i] = sorted[i] as Uint8Array;
  const pair = new Uint8Array(64);
  let done = 0;
  for (let i = tree.length - 1 - n; i >= 0; i--) {
    const a = tree[2 * i + 1] as Uint8Array;
    const b = tree[2 * i + 2] as Uint8Array;
    const [lo, hi] = compareBytes(a, b) <= 0 ? [a, b] : [b, a];
    pair.set(lo, 0);
    pair.set(hi, 32);
    tree[i] = keccak256(pair, "bytes");
    if (++done % NODES_PER_STEP === 0 && i > 0) yield;
  }
  return bytesToHex(tree[0] as Uint8Array);
}

/**
 * Root of the protocol's receipt Merkle tree (`merkleBatch(leaves).root`: OpenZeppelin's
 * `SimpleMerkleTree` with sorted leaves and sorted-pair keccak256 nodes), computed on raw
 * bytes: one keccak per inner node and no per-node hex round trips, which makes it about
 * ten times cheaper than building the general tree, whose proofs the agent never needs.
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

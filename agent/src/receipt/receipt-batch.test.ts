import { describe, expect, test } from "bun:test";
import {
  digestOf,
  merkleBatch,
  ncnDomain,
  type ReceiptJson,
  receiptDigest,
  receiptMessage,
  typedData,
  verifyMerkleProof,
} from "@ncn/protocol";
import { bytesToHex, recoverTypedDataAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { receiptBatchDigest, receiptsRoot, receiptsRootYielding, signReceiptBatch } from "./receipt-batch.ts";
import { buildReceipt, signReceipt } from "./sign-receipt.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const account = privateKeyToAccount(generatePrivateKey());
const h = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as `0x${string}`;

function receipt(i: number): ReceiptJson {
  return buildReceipt(account.address, {
    requestId: `req-${i}`,
    subnetId: "ocr",
    modelId: "tiny-mlp",
    modelHash: h(1),
    inputHash: h(1000 + i),
    outputHash: h(2000 + i),
    price: String(1000 + i),
    startedAt: 1_700_000_000_000 + i,
    finishedAt: 1_700_000_000_005 + i,
  });
}

const randomLeaf = () => bytesToHex(crypto.getRandomValues(new Uint8Array(32)));

describe("receipt batches", () => {
  test("the root equals the protocol's merkleBatch root for every size, duplicates included", async () => {
    for (let n = 1; n <= 40; n++) {
      const leaves = Array.from({ length: n }, randomLeaf);
      expect(receiptsRoot(leaves)).toBe(merkleBatch(leaves).root);
    }
    const dup = [h(5), h(3), h(5), h(1), h(3)];
    expect(receiptsRoot(dup)).toBe(merkleBatch(dup).root);
    const digests = Array.from({ length: 17 }, (_, i) => receiptDigest(domain, receipt(i)));
    const root = receiptsRoot(digests);
    const tree = merkleBatch(digests);
    expect(root).toBe(tree.root);
    digests.forEach((d, i) => {
      expect(verifyMerkleProof(root, d, tree.proof(i))).toBe(true);
    });
    // A large tree is built in steps, with timers (frames) served between them. Large enough
    // to outlast a timer's first tick with the WebAssembly keccak too (an agent created
    // earlier in this process turns it on): 256 leaves could be done within a millisecond.
    const big = Array.from({ length: 8192 }, randomLeaf);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 0);
    const pending = receiptsRootYielding(big);
    expect(await pending).toBe(merkleBatch(big).root);
    clearInterval(timer);
    expect(ticks).toBeGreaterThan(0);
    expect(() => receiptsRoot([])).toThrow(/at least one/);
    expect(() => receiptsRoot(["0x1234"])).toThrow(/32 bytes/);
  });

  test("the batch digest equals the generic EIP-712 encoding and the signature recovers", async () => {
    for (const count of [1, 2, 256, 4_294_967_295]) {
      const m = { agent: account.address, receiptsRoot: randomLeaf(), count };
      expect(receiptBatchDigest(domain, m)).toBe(digestOf(domain, "ReceiptBatch", m));
    }
    const other = ncnDomain(8453, "0x00000000000000000000000000000000000000aa");
    const m = { agent: account.address, receiptsRoot: h(9), count: 3 };
    expect(receiptBatchDigest(other, m)).toBe(digestOf(other, "ReceiptBatch", m));
    expect(() => receiptBatchDigest(domain, { ...m, count: -1 })).toThrow(/out of range/);

    const digests = Array.from({ length: 5 }, (_, i) => receiptDigest(domain, receipt(i)));
    const signed = await signReceiptBatch(account, domain, digests);
    expect(signed.receiptsRoot).toBe(merkleBatch(digests).root as never);
    const signer = await recoverTypedDataAddress({
      ...typedData(domain, "ReceiptBatch", {
        agent: account.address,
        receiptsRoot: signed.receiptsRoot,
        count: digests.length,
      }),
      signature: signed.signature,
    });
    expect(signer).toBe(account.address);
    // The same signature the generic typed-data path gives.
    const slow = await account.signTypedData(
      typedData(domain, "ReceiptBatch", {
        agent: account.address,
        receiptsRoot: signed.receiptsRoot,
        count: 5,
      }),
    );
    expect(signed.signature).toBe(slow.toLowerCase() as never);
  });

  test("a single receipt signed from its digest equals signTypedData on the receipt", async () => {
    const r = receipt(7);
    const fields = {
      requestId: "req-7",
      subnetId: "ocr",
      modelId: "tiny-mlp",
      modelHash: h(1),
      inputHash: h(1007),
      outputHash: h(2007),
      price: "1007",
      startedAt: 1_700_000_000_007,
      finishedAt: 1_700_000_000_012,
    };
    const signed = await signReceipt(account, domain, fields);
    expect(signed.receipt).toEqual(r);
    const slow = await account.signTypedData(typedData(domain, "InferenceReceipt", receiptMessage(r)));
    expect(signed.signature).toBe(slow.toLowerCase() as never);
    // An account that only signs typed data gets the same signature.
    const typedOnly = { ...account, sign: undefined };
    expect((await signReceipt(typedOnly, domain, fields)).signature).toBe(signed.signature);
  });
});

import { describe, expect, test } from "bun:test";
import {
  merkleBatch,
  ncnDomain,
  type ResultBatchFrame,
  ResultBatchFrame as ResultBatchSchema,
  receiptDigest,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import { recoverTypedDataAddress } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { buildReceipt } from "../receipt/sign-receipt.ts";
import { type BatchItem, ReceiptBatcher, type ReceiptBatcherOptions } from "./receipt-batcher.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const account = privateKeyToAccount(generatePrivateKey());
const h = (n: number) => `0x${n.toString(16).padStart(64, "0")}` as `0x${string}`;

let seq = 0;
function item(outputBytes = 0): BatchItem {
  const i = ++seq;
  const data = Buffer.alloc(outputBytes).toString("base64");
  return {
    taskId: `t${i}:1`,
    result:
      outputBytes > 0
        ? { kind: "tensor", outputs: { y: { dtype: "uint8", dims: [outputBytes], data } } }
        : { kind: "ocr", lines: [] },
    receipt: buildReceipt(account.address, {
      requestId: `t${i}`,
      subnetId: "ocr",
      modelId: "m",
      modelHash: h(1),
      inputHash: h(i),
      outputHash: h(i + 1),
      price: "1",
      startedAt: 1000 + i,
      finishedAt: 1001 + i,
    }),
    computeMs: 0.5,
  };
}

interface Harness {
  batcher: ReceiptBatcher;
  frames: { subnet: string; frame: ResultBatchFrame; at: number }[];
  errors: string[][];
  setBusy(b: boolean): void;
}

function harness(over: Partial<ReceiptBatcherOptions> = {}): Harness {
  let busy = false;
  const frames: Harness["frames"] = [];
  const errors: string[][] = [];
  const batcher = new ReceiptBatcher({
    account,
    busy: () => busy,
    deliver: async (subnet, frame) => {
      frames.push({ subnet, frame, at: performance.now() });
    },
    onError: (_s, ids) => errors.push(ids),
    ...over,
  });
  return {
    batcher,
    frames,
    errors,
    setBusy: (b) => {
      busy = b;
    },
  };
}

async function verify(frame: ResultBatchFrame): Promise<void> {
  expect(v.is(ResultBatchSchema, frame)).toBe(true);
  const root = merkleBatch(frame.items.map((i) => receiptDigest(domain, i.receipt))).root;
  expect(frame.receiptsRoot).toBe(root as never);
  const signer = await recoverTypedDataAddress({
    ...typedData(domain, "ReceiptBatch", {
      agent: account.address,
      receiptsRoot: frame.receiptsRoot,
      count: frame.items.length,
    }),
    signature: frame.signature,
  });
  expect(signer).toBe(account.address);
}

describe("ReceiptBatcher", () => {
  test("with no other batch work a result is signed and delivered at once, alone", async () => {
    const { batcher, frames } = harness({ maxWaitMs: 60_000 });
    const a = item();
    batcher.add("ocr", domain, a);
    // Signed in the same turn; only the (async) delivery is awaited.
    expect(batcher.waiting).toBe(0);
    expect(batcher.has(a.taskId)).toBe(true);
    await batcher.flushAll();
    expect(frames.map((f) => f.frame.items.map((i) => i.taskId))).toEqual([[a.taskId]]);
    expect(batcher.has(a.taskId)).toBe(false);
    await verify(frames[0]?.frame as ResultBatchFrame);
  });

  test("while other batch work runs, results wait and go out together after maxWaitMs", async () => {
    const { batcher, frames, setBusy } = harness({ maxWaitMs: 40 });
    setBusy(true);
    const t0 = performance.now();
    const items = [item(), item(), item()];
    for (const i of items) batcher.add("ocr", domain, i);
    expect(batcher.waiting).toBe(3);
    await Bun.sleep(10);
    expect(frames).toEqual([]);
    while (frames.length === 0 && performance.now() - t0 < 2000) await Bun.sleep(5);
    expect(frames.length).toBe(1);
    expect((frames[0]?.at ?? 0) - t0).toBeGreaterThanOrEqual(35);
    expect(frames[0]?.frame.items.map((i) => i.taskId)).toEqual(items.map((i) => i.taskId));
    await verify(frames[0]?.frame as ResultBatchFrame);
  });

  test("a full batch is flushed at maxItems; the rest when the batch work drains", async () => {
    const { batcher, frames, setBusy } = harness({ maxItems: 4, maxWaitMs: 60_000 });
    setBusy(true);
    for (let i = 0; i < 10; i++) batcher.add("ocr", domain, item());
    await Bun.sleep(0);
    expect(frames.map((f) => f.frame.items.length)).toEqual([4, 4]);
    expect(batcher.waiting).toBe(2);
    setBusy(false);
    batcher.drained();
    await batcher.flushAll();
    expect(frames.map((f) => f.frame.items.length)).toEqual([4, 4, 2]);
    for (const f of frames) await verify(f.frame);
    const ids = frames.flatMap((f) => f.frame.items.map((i) => i.taskId));
    expect(new Set(ids).size).toBe(10);
  });

  test("subnets batch apart, a new signing domain starts a new batch, failures reach onError", async () => {
    const { batcher, frames, setBusy } = harness({ maxWaitMs: 60_000 });
    setBusy(true);
    batcher.add("ocr", domain, item());
    batcher.add("vision", domain, item());
    batcher.add("ocr", domain, item());
    const other = ncnDomain(8453, "0x00000000000000000000000000000000000000aa");
    batcher.add("ocr", other, item());
    await Bun.sleep(0);
    // The two "ocr" results digested for the old domain went out when the domain changed.
    expect(frames.map((f) => [f.subnet, f.frame.items.length])).toEqual([["ocr", 2]]);
    await batcher.flushAll();
    expect(frames.map((f) => [f.subnet, f.frame.items.length]).sort()).toEqual(
      [
        ["ocr", 2],
        ["ocr", 1],
        ["vision", 1],
      ].sort(),
    );

    const failing = harness({
      deliver: async () => {
        throw new Error("disk full");
      },
    });
    const x = item();
    failing.batcher.add("ocr", domain, x);
    await failing.batcher.flushAll();
    expect(failing.errors).toEqual([[x.taskId]]);
    expect(failing.batcher.has(x.taskId)).toBe(false);
  });

  test("a batch goes out before its results would make the frame too large", async () => {
    const { batcher, frames, setBusy } = harness({ maxBytes: 100_000, maxWaitMs: 60_000 });
    setBusy(true);
    // ~40 kB of base64 each: two fit under 100 kB, a third does not.
    for (let i = 0; i < 5; i++) batcher.add("ocr", domain, item(30_000));
    await Bun.sleep(0);
    expect(frames.map((f) => f.frame.items.length)).toEqual([2, 2]);
    await batcher.flushAll();
    expect(frames.map((f) => f.frame.items.length)).toEqual([2, 2, 1]);
    for (const f of frames) {
      expect(JSON.stringify(f.frame).length).toBeLessThan(100_000);
      await verify(f.frame);
    }
  });
});

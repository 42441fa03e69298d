import {
  type BatchedResult,
  type NcnDomain,
  type ReceiptJson,
  type ResultBatchFrame,
  receiptDigest,
  type TaskResult,
} from "@ncn/protocol";
import { type Logger, silentLogger } from "@ncn/runtime/logger";
import type { LocalAccount } from "viem";
import { MAX_BATCH_ITEMS, signReceiptBatch } from "../receipt/receipt-batch.ts";

/** A finished batch-mode task: its result and unsigned receipt. */
export interface BatchItem {
  taskId: string;
  result: TaskResult;
  receipt: ReceiptJson;
  computeMs: number;
}

export interface ReceiptBatcherOptions {
  account: LocalAccount;
  /** True while other batch-mode tasks are queued or running in the agent. */
  busy: () => boolean;
  /** Stores a signed `results` frame in the outbox and sends it. */
  deliver: (subnet: string, frame: ResultBatchFrame) => Promise<void>;
  /** A batch could not be signed or stored: its tasks have failed. */
  onError: (subnet: string, taskIds: string[], error: unknown) => void;
  /** Flush once this many results wait (default 256). */
  maxItems?: number;
  /** Flush this long after the first result started waiting (ms, default 5). */
  maxWaitMs?: number;
  /** Flush before the frame's results would pass about this many bytes (default 8 MiB). */
  maxBytes?: number;
  log?: Logger;
}

interface OpenBatch {
  subnet: string;
  domain: NcnDomain;
  domainKey: string;
  items: BatchedResult[];
  digests: `0x${string}`[];
  /** Estimated JSON size of the items. */
  bytes: number;
  timer: ReturnType<typeof setTimeout> | undefined;
}

const domainKey = (d: NcnDomain) => `${d.chainId}:${d.verifyingContract.toLowerCase()}`;

/** About how many bytes an item adds to a `results` frame (receipt and ids ~700 bytes). */
function sizeOf(item: BatchItem): number {
  let n = 700;
  const result = item.result;
  switch (result.kind) {
    case "tensor":
      for (const t of Object.values(result.outputs)) n += t.data.length + 48 + 12 * t.dims.length;
      break;
    case "ocr":
      for (const l of result.lines) n += 160 + l.text.length * 2;
      break;
    case "embed":
      for (const e of result.embeddings) n += e.length + 3;
      break;
    case "generate":
      n += 120 + result.text.length * 2 + result.tokens.length * 6;
      break;
  }
  return n;
}

/**
 * Group commit of batch-mode receipts: finished results wait in a batch (one per subnet)
 * and go out in one `results` frame under one `ReceiptBatch` signature. A result is
 * flushed at once when no other batch-mode task is queued or running (a batch of one, so
 * a lone task waits for nothing); otherwise results collect until the batch-mode work
 * drains (`drained`), `maxItems` wait, or `maxWaitMs` pass since the first one, whichever
 * comes first; a batch whose results would pass `maxBytes` goes out before it grows more. Each receipt's digest is computed when it arrives, so a flush only builds
 * the Merkle root and signs it.
 */
export class ReceiptBatcher {
  readonly maxItems: number;
  readonly maxWaitMs: number;
  readonly maxBytes: number;
  readonly #o: ReceiptBatcherOptions;
  readonly #log: Logger;
  readonly #open = new Map<string, OpenBatch>();
  /** Task ids accepted and not yet stored in the outbox (waiting or being signed). */
  readonly #holding = new Set<string>();
  readonly #flushing = new Set<Promise<void>>();

  constructor(options: ReceiptBatcherOptions) {
    this.#o = options;
    this.maxItems = Math.min(MAX_BATCH_ITEMS, Math.max(1, options.maxItems ?? 256));
    this.maxWaitMs = Math.max(0, options.maxWaitMs ?? 5);
    // Well inside the protocol's frame limit (MAX_FRAME_BYTES, 32 MiB).
    this.maxBytes = Math.max(1, options.maxBytes ?? 8 * 1024 * 1024);
    this.#log = (options.log ?? silentLogger).child({ component: "agent:batcher" });
  }

  /** Whether a task's result is waiting here or being signed. */
  has(taskId: string): boolean {
    return this.#holding.has(taskId);
  }

  /** Results waiting in open batches. */
  get waiting(): number {
    let n = 0;
    for (const b of this.#open.values()) n += b.items.length;
    return n;
  }

  /** Adds a finished result to its subnet's batch and flushes by the policy above. */
  add(subnet: string, domain: NcnDomain, item: BatchItem): void {
    const digest = receiptDigest(domain, item.receipt);
    const size = sizeOf(item);
    let batch = this.#open.get(subnet);
    // Another signing domain (what waits was digested for the old one), or a frame that
    // would grow too large: what waits goes out first.
    if (batch && (batch.domainKey !== domainKey(domain) || batch.bytes + size > this.maxBytes)) {
      this.#flush(batch);
      batch = undefined;
    }
    if (!batch) {
      batch = {
        subnet,
        domain,
        domainKey: domainKey(domain),
        items: [],
        digests: [],
        bytes: 0,
        timer: undefined,
      };
      this.#open.set(subnet, batch);
    }
    batch.items.push(item);
    batch.digests.push(digest);
    batch.bytes += size;
    this.#holding.add(item.taskId);
    if (!this.#o.busy() || batch.items.length >= this.maxItems || batch.bytes >= this.maxBytes)
      this.#flush(batch);
    else if (!batch.timer) {
      const b = batch;
      b.timer = setTimeout(() => this.#flush(b), this.maxWaitMs);
    }
  }

  /** No batch-mode work is left queued or running: flush whatever waits. */
  drained(): void {
    for (const b of [...this.#open.values()]) this.#flush(b);
  }

  /** Flushes everything and resolves once every batch is stored (and sent if connected). */
  async flushAll(): Promise<void> {
    this.drained();
    while (this.#flushing.size > 0) await Promise.all([...this.#flushing]);
  }

  #flush(batch: OpenBatch): void {
    if (this.#open.get(batch.subnet) === batch) this.#open.delete(batch.subnet);
    if (batch.timer) clearTimeout(batch.timer);
    batch.timer = undefined;
    const { items, digests } = batch;
    if (items.length === 0) return;
    batch.items = [];
    batch.digests = [];
    batch.bytes = 0;
    const done = this.#sign(batch.subnet, batch.domain, items, digests).finally(() => {
      this.#flushing.delete(done);
      for (const i of items) this.#holding.delete(i.taskId);
    });
    this.#flushing.add(done);
  }

  async #sign(
    subnet: string,
    domain: NcnDomain,
    items: BatchedResult[],
    digests: `0x${string}`[],
  ): Promise<void> {
    try {
      const { receiptsRoot, signature } = await signReceiptBatch(this.#o.account, domain, digests);
      await this.#o.deliver(subnet, { type: "results", receiptsRoot, signature, items });
      this.#log.debug("results batch flushed", { subnet, items: items.length, receiptsRoot });
    } catch (e) {
      this.#log.error("results batch failed", { subnet, items: items.length, error: e });
      this.#o.onError(
        subnet,
        items.map((i) => i.taskId),
        e,
      );
    }
  }
}

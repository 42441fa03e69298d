import { afterAll, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResultBatchFrame, ResultFrame } from "@ncn/protocol";
import * as v from "valibot";
import type { AgentError } from "../errors.ts";
import { admitTask } from "./admission.ts";
import { backoffDelay } from "./backoff.ts";
import { Outbox } from "./outbox.ts";
import { TaskRunner } from "./task-runner.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function frame(taskId: string): ResultFrame {
  const h = `0x${"ab".repeat(32)}`;
  return v.parse(ResultFrame, {
    type: "result",
    taskId,
    result: { kind: "ocr", lines: [] },
    receipt: {
      receipt: {
        requestId: h,
        subnetId: h,
        modelId: h,
        modelHash: h,
        inputHash: h,
        outputHash: h,
        agent: `0x${"12".repeat(20)}`,
        price: "1",
        startedAt: 1,
        finishedAt: 2,
      },
      signature: `0x${"cd".repeat(65)}`,
    },
    computeMs: 1,
  });
}

function batch(root: number, taskIds: string[]): ResultBatchFrame {
  return v.parse(ResultBatchFrame, {
    type: "results",
    receiptsRoot: `0x${root.toString(16).padStart(64, "0")}`,
    signature: `0x${"ef".repeat(65)}`,
    items: taskIds.map((taskId) => {
      const f = frame(taskId);
      return { taskId, result: f.result, receipt: f.receipt.receipt, computeMs: 1 };
    }),
  });
}

describe("TaskRunner", () => {
  test("runs at most `concurrency` jobs, in order, and cancels queued and running ones", async () => {
    const r = new TaskRunner(2);
    const log: string[] = [];
    let active = 0;
    let peak = 0;
    const job = (id: string, ms: number) => async (signal: AbortSignal) => {
      active++;
      peak = Math.max(peak, active);
      log.push(`start ${id}`);
      await Promise.race([Bun.sleep(ms), new Promise((res) => signal.addEventListener("abort", res))]);
      log.push(signal.aborted ? `abort ${id}` : `end ${id}`);
      active--;
    };
    r.submit("a", job("a", 50));
    r.submit("b", job("b", 200));
    r.submit("c", job("c", 10));
    r.submit("d", job("d", 10));
    expect([r.running, r.queued]).toEqual([2, 2]);
    expect(() => r.submit("a", job("a", 1))).toThrow(/already/);
    expect(r.cancel("d")).toBe(true);
    expect(r.cancel("b")).toBe(true);
    expect(r.cancel("zzz")).toBe(false);
    await r.idle();
    expect(peak).toBe(2);
    expect(log).toContain("abort b");
    expect(log).toContain("end a");
    expect(log.indexOf("start c")).toBeGreaterThan(0);
    expect(log).toContain("abort d");
  });
});

describe("TaskRunner deadlines", () => {
  test("jobs past their abortAt are aborted with DEADLINE_EXCEEDED, running or still queued", async () => {
    const r = new TaskRunner(1);
    const reasons: Record<string, string> = {};
    const job = (id: string, ms: number) => async (signal: AbortSignal) => {
      if (!signal.aborted)
        await Promise.race([Bun.sleep(ms), new Promise((res) => signal.addEventListener("abort", res))]);
      reasons[id] = signal.aborted ? (signal.reason as AgentError).code : "done";
    };
    const now = Date.now();
    r.submit("slow", job("slow", 5_000), { abortAt: now + 60 });
    r.submit("queued", job("queued", 10), { abortAt: now + 30 });
    r.submit("fine", job("fine", 10), { abortAt: now + 60_000 });
    r.submit("free", job("free", 10));
    const t0 = performance.now();
    await r.idle();
    expect(performance.now() - t0).toBeLessThan(2_000);
    expect(reasons).toEqual({
      slow: "DEADLINE_EXCEEDED",
      queued: "DEADLINE_EXCEEDED",
      fine: "done",
      free: "done",
    });
    expect([r.running, r.queued, r.has("fine")]).toEqual([0, 0, false]);
  });
});

test("a deadline months away (or absurd) arms one timer, not a timer that fires at once over and over", async () => {
  const r = new TaskRunner(2);
  const realSetTimeout = globalThis.setTimeout;
  const delays: number[] = [];
  globalThis.setTimeout = ((fn: () => void, ms?: number) => {
    delays.push(ms ?? 0);
    return realSetTimeout(fn, ms);
  }) as typeof setTimeout;
  let release = () => {};
  const held = new Promise<void>((res) => {
    release = res;
  });
  try {
    r.submit("far", () => held, { abortAt: Date.now() + 2 ** 40 });
    r.submit("absurd", () => held, { abortAt: 1e308 });
    await Bun.sleep(100);
  } finally {
    globalThis.setTimeout = realSetTimeout;
  }
  release();
  await r.idle();
  expect(delays.length).toBe(1);
  expect(delays[0]).toBeLessThanOrEqual(2 ** 31 - 1);
});

describe("Outbox", () => {
  test("persists results until acknowledged, across reopen; corrupt files are set aside", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ncn-outbox-"));
    dirs.push(dir);
    const box = await Outbox.open(dir);
    await box.put("ocr", frame("r1:1"));
    await Bun.sleep(2);
    await box.put("vision", frame("..:2"));
    writeFileSync(join(dir, "junk.json"), "{ not json");
    const again = await Outbox.open(dir);
    expect(again.pending()).toEqual(["r1:1", "..:2"]);
    expect(again.pending("vision")).toEqual(["..:2"]);
    expect(again.get("r1:1")?.frame.taskId).toBe("r1:1");
    expect(await again.ack("r1:1")).toBe(true);
    expect(await again.ack("r1:1")).toBe(false);
    expect((await Outbox.open(dir)).pending()).toEqual(["..:2"]);
    expect(readdirSync(dir)).toContain("junk.json.corrupt");
  });
});

describe("backoff", () => {
  test("grows exponentially with full jitter up to the cap", () => {
    const top = (attempt: number) =>
      backoffDelay(attempt, { baseMs: 100, maxMs: 5000, random: () => 0.999999 });
    expect([0, 1, 2, 3].map(top)).toEqual([100, 200, 400, 800]);
    expect(top(20)).toBe(5000);
    expect(backoffDelay(5, { baseMs: 100, maxMs: 5000, random: () => 0 })).toBe(0);
  });
});

describe("Outbox journal", () => {
  test("keeps single results and batches until acknowledged, across reopen", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ncn-outbox-"));
    dirs.push(dir);
    const box = await Outbox.open(dir);
    await box.put("ocr", frame("s1:1"));
    await Bun.sleep(2);
    const b = batch(0xabc, ["b1:1", "b2:1"]);
    await box.putBatch("ocr", b);
    await Bun.sleep(2);
    await box.putBatch("vision", batch(0xdef, ["v1:1"]));
    expect(box.size).toBe(4);
    expect(box.pending()).toEqual(["s1:1", "b1:1", "b2:1", "v1:1"]);
    expect(box.pending("ocr")).toEqual(["s1:1", "b1:1", "b2:1"]);
    expect(box.frames("ocr").map((f) => f.type)).toEqual(["result", "results"]);
    expect(box.frameOf("b2:1")).toEqual(b);
    expect(box.get("b2:1")).toBeUndefined();
    box.close();

    const again = await Outbox.open(dir);
    expect(again.pending()).toEqual(["s1:1", "b1:1", "b2:1", "v1:1"]);
    expect(again.frameOf("b1:1")).toEqual(b);
    expect(await again.ackBatch(b.receiptsRoot.toUpperCase().replace("0X", "0x"))).toBe(true);
    expect(await again.ackBatch(b.receiptsRoot)).toBe(false);
    expect(await again.ack("b1:1")).toBe(false);
    expect(again.pending()).toEqual(["s1:1", "v1:1"]);
    expect((await Outbox.open(dir)).pending()).toEqual(["s1:1", "v1:1"]);
  });

  test("the journal is rewritten once acknowledged lines dominate it", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ncn-outbox-"));
    dirs.push(dir);
    const box = await Outbox.open(dir);
    await box.put("ocr", frame("keep:1"));
    for (let i = 0; i < 3000; i++) {
      await box.put("ocr", frame(`t${i}:1`));
      expect(await box.ack(`t${i}:1`)).toBe(true);
    }
    const lines = readFileSync(join(dir, "journal.ndjson"), "utf8").trim().split("\n");
    expect(lines.length).toBeLessThan(1100);
    expect((await Outbox.open(dir)).pending()).toEqual(["keep:1"]);
  });

  test("takes over one-file-per-entry outboxes and sets unreadable journal lines aside", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ncn-outbox-"));
    dirs.push(dir);
    const legacy = join(dir, `${Buffer.from("old:1").toString("hex")}.json`);
    writeFileSync(legacy, JSON.stringify({ subnet: "ocr", storedAt: 1, frame: frame("old:1") }));
    const box = await Outbox.open(dir);
    expect(box.pending()).toEqual(["old:1"]);
    expect(existsSync(legacy)).toBe(false);
    await box.put("ocr", frame("new:1"));
    box.close();
    appendFileSync(join(dir, "journal.ndjson"), '{"put": {"truncated\n');
    const again = await Outbox.open(dir);
    expect(again.pending()).toEqual(["old:1", "new:1"]);
    expect(readdirSync(dir)).toContain("journal.ndjson.corrupt");
  });

  test("counts the bytes waiting for an ack, the same after reopen, and the set-aside file is 0600", async () => {
    const dir = mkdtempSync(join(tmpdir(), "ncn-outbox-"));
    dirs.push(dir);
    const box = await Outbox.open(dir);
    expect(box.bytes).toBe(0);
    await box.put("ocr", frame("a:1"));
    const one = box.bytes;
    expect(one).toBeGreaterThan(100);
    await box.put("ocr", frame("a:1")); // the same result stored again counts once
    await box.putBatch("ocr", batch(1, ["b:1", "b:2"]));
    const both = box.bytes;
    expect(both).toBeGreaterThan(one);
    box.close();
    const again = await Outbox.open(dir);
    expect(again.bytes).toBe(both);
    await again.ack("a:1");
    await again.ackBatch(`0x${"1".padStart(64, "0")}`);
    expect(again.bytes).toBe(0);
    again.close();
    appendFileSync(join(dir, "journal.ndjson"), "not json\n");
    await Outbox.open(dir);
    expect(statSync(join(dir, "journal.ndjson.corrupt")).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, "journal.ndjson")).mode & 0o777).toBe(0o600);
  });
});

describe("admitTask", () => {
  const idle = { running: 0, concurrency: 2, queued: 0, maxQueued: 1, outboxBytes: 0, outboxMaxBytes: 100 };
  test("takes a task while a slot is free or the queue has room; refuses UNAVAILABLE past either limit", () => {
    expect(admitTask(idle)).toBeNull();
    expect(admitTask({ ...idle, running: 2 })).toBeNull();
    expect(admitTask({ ...idle, running: 2, queued: 1 })?.code).toBe("UNAVAILABLE");
    expect(admitTask({ ...idle, running: 1, queued: 0, maxQueued: 0 })).toBeNull();
    expect(admitTask({ ...idle, running: 2, maxQueued: 0 })?.message).toContain("wait for a free slot");
    expect(admitTask({ ...idle, outboxBytes: 100 })?.message).toContain("acknowledgement");
  });
});

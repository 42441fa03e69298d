import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ResultFrame } from "@ncn/protocol";
import * as v from "valibot";
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

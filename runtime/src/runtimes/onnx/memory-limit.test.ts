import { expect, test } from "bun:test";
import { join } from "node:path";
import * as v from "valibot";
import { isOutOfMemory } from "../../system/memory-limit.ts";

// A model whose run allocates without bound (one Expand to 1 GiB, summed to one number, so the
// output limit never sees it) against the real runtime, capped at 256 MiB. The cap is
// process-wide, so the attack runs in a process of its own, itself under a hard data limit
// of 8 GiB: even with the cap broken it cannot take the machine's memory.

const Outcome = v.object({
  code: v.string(),
  message: v.optional(v.string()),
  details: v.optional(v.record(v.string(), v.unknown())),
  y: v.optional(v.array(v.number())),
});
const Report = v.object({
  cap: v.object({ limitBytes: v.number(), baselineBytes: v.number(), modelBytes: v.number() }),
  soft: v.number(),
  attacked: Outcome,
  fine: Outcome,
  after: Outcome,
});

const GUARD = String(8 * 2 ** 30);
const bun = process.execPath;
const script = join(import.meta.dir, "..", "..", "testing", "memory-attack.ts");

test("a model run allocating past the memory cap is refused MODEL_LIMIT_EXCEEDED; the next runs are served", () => {
  const r = Bun.spawnSync(["prlimit", `--data=${GUARD}:${GUARD}`, bun, script, "256", "16384"], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NCN_LOG_LEVEL: "error" },
  });
  const text = r.stdout.toString();
  if (r.exitCode !== 0)
    throw new Error(`the attack process failed (${r.exitCode}): ${r.stderr.toString().slice(-2000)}`);
  const report = v.parse(Report, JSON.parse(text.trim().split("\n").at(-1) ?? "{}"));
  // The soft limit in force is what the runtime set: its size at start plus 256 MiB.
  expect(report.cap.modelBytes).toBe(256 * 2 ** 20);
  expect(report.soft).toBe(report.cap.limitBytes);
  expect(report.cap.limitBytes).toBe(report.cap.baselineBytes + 256 * 2 ** 20);
  expect(report.attacked.code).toBe("MODEL_LIMIT_EXCEEDED");
  expect(report.attacked.details).toEqual({ model: "expand-sum", maxMemoryBytes: 256 * 2 ** 20 });
  expect(report.attacked.message).toContain("256 MiB");
  // A run within the cap, and the tiny model, are served after it.
  expect(report.fine).toEqual({ code: "resolved", y: [2 * 1024 * 1024] });
  expect(report.after.code).toBe("resolved");
}, 60_000);

test("allocation failures are told apart from other model failures", () => {
  expect(
    isOutOfMemory(
      "Non-zero status code returned while running Expand node. Status Message: bfc_arena.cc:360 Failed to allocate memory for requested buffer of size 17179869184",
    ),
  ).toBe(true);
  expect(isOutOfMemory("RangeError: Out of memory")).toBe(true);
  expect(isOutOfMemory("std::bad_alloc")).toBe(true);
  expect(isOutOfMemory("Got invalid dimensions for input: x")).toBe(false);
});

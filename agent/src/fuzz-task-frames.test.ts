import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { FUZZ_RUNS, FUZZ_SEED, fuzzBodies } from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import { FrameFuzzHarness, hostileTensor } from "./testing/frame-fuzz.ts";

// Property-based tests over the task frames a compute agent receives from its gateway: a
// real agent gets mutated tasks, hostile tensors (wrong dtypes and dims, huge shapes),
// OCR tasks whose image is not one, and several tasks in one frame. It answers each with a
// result or a typed error, signs a receipt only for a well-formed task (binding exactly that
// task and the model's real output), keeps its link, and still serves a valid task after.

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true } as const;
let h: FrameFuzzHarness;

beforeAll(async () => {
  h = await FrameFuzzHarness.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe("fuzzed task frames: a result or a typed error, receipts only for well-formed tasks", () => {
  test("task frames", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzBodies(h.tensorTask()), async (f) => h.deliver([f])),
      params,
    );
    await h.servesAValidTask();
  }, 600_000);

  test("task frames with batched receipts", async () => {
    const base = h.tensorTask({ receipts: "batch" });
    await fc.assert(
      fc.asyncProperty(fuzzBodies(base), async (f) => h.deliver([f])),
      params,
    );
    await h.servesAValidTask();
  }, 600_000);

  test("task frames with hostile tensors", async () => {
    const inputs = fc.dictionary(fc.constantFrom("x", "y", "x/../../etc", "__proto__"), hostileTensor, {
      minKeys: 1,
      maxKeys: 3,
    });
    await fc.assert(
      fc.asyncProperty(inputs, async (i) => h.deliver([h.tensorTask({ inputs: i })])),
      params,
    );
    await h.servesAValidTask();
  }, 600_000);

  test("OCR task frames whose image is not an image", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzBodies(h.ocrTask()), async (f) => h.deliver([f])),
      params,
    );
    await h.servesAValidTask();
  }, 600_000);

  test("tasks frames (several tasks in one message)", async () => {
    const many = {
      type: "tasks",
      tasks: [h.tensorTask(), h.tensorTask({ taskId: "fz-task-b", receipts: "batch" })],
    };
    await fc.assert(
      fc.asyncProperty(fuzzBodies(many), async (f) => h.deliver([f])),
      params,
    );
    await h.servesAValidTask();
  }, 600_000);

  test("regressions found by this suite, and the largest tensors, answer typed errors or run and sign correctly", async () => {
    const { model } = h.tensorTask() as { model: { outputs: unknown[] } };
    const huge = (dims: number[], bytes: number) => ({
      x: { dtype: "float32", dims, data: Buffer.alloc(bytes, 0x3f).toString("base64") },
    });
    const cases: [Record<string, unknown>, string][] = [
      // A price past uint256: the model ran, then signing failed with INTERNAL.
      [h.tensorTask({ price: (2n ** 256n).toString() }), "error FRAME_INVALID"],
      // An output named twice: the inference worker failed on a duplicate transfer.
      [
        h.tensorTask({ model: { ...model, outputs: [...model.outputs, ...model.outputs] } }),
        "error FRAME_INVALID",
      ],
      // A deadline past what a timer holds: the deadline timer fired every millisecond.
      [h.tensorTask({ deadline: 1e308 }), "result"],
      [h.tensorTask({ receipts: "batch", deadline: Date.now() + 2 ** 40 }), "result"],
      // 8 MiB of input (512Ki rows of the model's 4 columns) runs; more than a tensor may hold does not.
      [h.tensorTask({ inputs: huge([512 * 1024, 4], 8 * 1024 * 1024) }), "result"],
      [h.tensorTask({ inputs: huge([2 ** 24 + 1, 4], 16) }), "error FRAME_INVALID"],
    ];
    for (const [frame, answer] of cases) {
      await h.deliver([frame]);
      expect(h.lastAnswer()).toBe(answer);
    }
  }, 120_000);
});

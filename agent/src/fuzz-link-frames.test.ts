import { afterAll, beforeAll, describe, test } from "bun:test";
import {
  FUZZ_RUNS,
  FUZZ_SEED,
  fuzzBodies,
  hexDigits,
  hostileValue,
  truncatedJson,
} from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import { FrameFuzzHarness } from "./testing/frame-fuzz.ts";

// Property-based tests over the link frames a compute agent receives from its gateway
// (cancel, ack, acks, error, and a challenge or welcome out of turn), then over streams of
// interleaved, truncated, binary and hostile frames around valid tasks. The agent answers
// with typed error frames or ignores them, keeps its link, signs only for well-formed tasks,
// and still serves a valid task after.

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true } as const;
let h: FrameFuzzHarness;

beforeAll(async () => {
  h = await FrameFuzzHarness.start();
}, 60_000);

afterAll(async () => {
  await h?.stop();
});

describe("fuzzed link frames: typed errors or silence, the link holds", () => {
  for (const kind of ["cancel", "ack", "acks", "error", "challenge", "welcome"]) {
    test(`${kind} frames`, async () => {
      const base = h.linkFrames()[kind] as object;
      await fc.assert(
        fc.asyncProperty(fuzzBodies(base), async (f) => h.deliver([f])),
        params,
      );
      await h.servesAValidTask();
    }, 600_000);
  }

  test("interleaved, truncated, binary and hostile frames around valid tasks", async () => {
    const frame = fc.oneof(
      ...Object.values(h.linkFrames()).map((f) => fuzzBodies(f)),
      fuzzBodies(h.tensorTask()),
      fc.constant(h.tensorTask()),
      fc.constant(h.tensorTask({ receipts: "batch" })),
      truncatedJson(h.tensorTask()),
      hostileValue,
      fc.uint8Array({ maxLength: 300 }),
      hexDigits(64).map((hex) => ({ type: "acks", receiptsRoot: `0x${hex}` })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 2, maxLength: 5 }), async (frames) => h.deliver(frames)),
      params,
    );
    await h.servesAValidTask();
  }, 600_000);
});

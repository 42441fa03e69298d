import { afterAll, describe, expect, test } from "bun:test";
import type { Tensor } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import { expandModel, slowLoopModel } from "../../testing/limit-models.ts";
import { tinyModelBytes, tinyModelDescriptor, tinyModelReference } from "../../testing/tiny-model.ts";
import { OnnxRuntime } from "./onnx-runtime.ts";

const tiny = { bytes: tinyModelBytes(), descriptor: tinyModelDescriptor({ sources: ["file:/unused.onnx"] }) };
const x1: Record<string, Tensor> = { x: { dtype: "float32", dims: [1], data: new Float32Array([2]) } };
const runtimes: OnnxRuntime[] = [];
afterAll(async () => {
  for (const rt of runtimes) await rt.close();
});

async function runtime(options: Parameters<typeof OnnxRuntime.create>[0]): Promise<OnnxRuntime> {
  const rt = await OnnxRuntime.create({ inlineTinyModels: false, ...options });
  runtimes.push(rt);
  return rt;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof RuntimeError ? e.code : `untyped: ${String(e)}`;
  }
}

/** The tiny model still answers, correctly: the runtime survived what came before. */
async function expectTinyWorks(rt: OnnxRuntime): Promise<void> {
  const x = new Float32Array([1, 2, 3, 4]);
  const out = await rt.run(tiny.descriptor, async () => new Uint8Array(tiny.bytes), {
    x: { dtype: "float32", dims: [1, 4], data: x },
  });
  expect([...(out.y?.data ?? [])]).toEqual([...tinyModelReference(x)]);
}

describe("model run limits (real onnxruntime)", () => {
  test("a model declaring outputs over the limit is refused before it runs", async () => {
    const rt = await runtime({ maxOutputBytes: 1024 * 1024 });
    // 65536 x 65536 float32: 16 GiB, if it ever ran.
    const huge = expandModel([65536, 65536], true);
    expect(await codeOf(rt.run(huge.descriptor, async () => new Uint8Array(huge.bytes), x1))).toBe(
      "MODEL_LIMIT_EXCEEDED",
    );
    await expectTinyWorks(rt);
  });

  test("outputs over the limit are refused, not returned; the next run is served", async () => {
    const rt = await runtime({ maxOutputBytes: 1024 * 1024 });
    // Symbolic output shape: only the run shows 2048 x 2048 float32 (16 MiB).
    const big = expandModel([2048, 2048], false);
    expect(await codeOf(rt.run(big.descriptor, async () => new Uint8Array(big.bytes), x1))).toBe(
      "MODEL_LIMIT_EXCEEDED",
    );
    const small = expandModel([4, 4], false);
    const out = await rt.run(small.descriptor, async () => new Uint8Array(small.bytes), x1);
    expect(out.y?.dims).toEqual([4, 4]);
    expect([...(out.y?.data ?? [])].every((v) => v === 2)).toBe(true);
    await expectTinyWorks(rt);
  });

  test("a run past the time limit is answered MODEL_TIMEOUT and the runtime serves the next request", async () => {
    const rt = await runtime({ maxRunMs: 300 });
    // Millions of Loop iterations: seconds on any machine, far past 300 ms.
    const slow = slowLoopModel(5_000_000);
    const err = await rt
      .run(slow.descriptor, async () => new Uint8Array(slow.bytes), x1)
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).code).toBe("MODEL_TIMEOUT");
    expect((err as RuntimeError).details).toEqual({ model: "slow-loop", maxRunMs: 300 });
    await expectTinyWorks(rt);
    // The same model, cheap this time, loads again on the fresh thread.
    const quick = slowLoopModel(10);
    const out = await rt.run(quick.descriptor, async () => new Uint8Array(quick.bytes), x1);
    expect([...(out.y?.data ?? [])]).toEqual([12]);
  }, 60_000);

  test("while given-up runs still hold the CPU, more runs are refused UNAVAILABLE", async () => {
    const rt = await runtime({ maxRunMs: 300, maxAbandonedRuns: 1 });
    const slow = slowLoopModel(5_000_000);
    expect(await codeOf(rt.run(slow.descriptor, async () => new Uint8Array(slow.bytes), x1))).toBe(
      "MODEL_TIMEOUT",
    );
    expect(
      await codeOf(
        rt.run(tiny.descriptor, async () => new Uint8Array(tiny.bytes), {
          x: { dtype: "float32", dims: [1, 4], data: new Float32Array(4) },
        }),
      ),
    ).toBe("UNAVAILABLE");
  }, 60_000);

  test("a given-up run that ends later does not take the process down; its thread ends and runs are served again", async () => {
    const rt = await runtime({ maxRunMs: 300, maxAbandonedRuns: 1 });
    // About two seconds of Loop iterations: it goes on after the timeout and then returns.
    const slow = slowLoopModel(2_000_000);
    expect(await codeOf(rt.run(slow.descriptor, async () => new Uint8Array(slow.bytes), x1))).toBe(
      "MODEL_TIMEOUT",
    );
    const tinyRun = () =>
      codeOf(
        rt.run(tiny.descriptor, async () => new Uint8Array(tiny.bytes), {
          x: { dtype: "float32", dims: [1, 4], data: new Float32Array(4) },
        }),
      );
    expect(await tinyRun()).toBe("UNAVAILABLE");
    // Once the run returns, the old thread ends by itself (ending it during the run used to
    // abort the whole agent when onnxruntime completed it) and the limit frees up.
    const until = Date.now() + 50_000;
    let code = await tinyRun();
    while (code !== "resolved" && Date.now() < until) {
      await Bun.sleep(200);
      code = await tinyRun();
    }
    expect(code).toBe("resolved");
    await expectTinyWorks(rt);
  }, 60_000);
});

import { describe, expect, test } from "bun:test";
import { hashTensors, type ModelDescriptor, type Tensor } from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import { PPOCR_V4_DET } from "../../ocr/builtin-models.ts";
import { resolveNpmSource } from "../../store/npm-source.ts";
import { tinyModelBytes, tinyModelDescriptor, tinyModelReference } from "../../testing/tiny-model.ts";
import { tensorsClose } from "./compare.ts";
import { chooseExecutionProvider } from "./execution-provider.ts";
import { OnnxRuntime } from "./onnx-runtime.ts";
import { PROBE_INPUT, PROBE_OUTPUT, probeModelBytes } from "./probe-model.ts";
import { SessionPool } from "./session-pool.ts";

const desc = tinyModelDescriptor({ sources: ["file:/nonexistent/tiny.onnx"] });
const load = async () => tinyModelBytes();
const x = (batch: number): Tensor => ({
  dtype: "float32",
  dims: [batch, 4],
  data: Float32Array.from({ length: batch * 4 }, (_, i) => (i % 7) - 2.5),
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(RuntimeError);
    return (e as RuntimeError).code;
  }
  throw new Error("expected a rejection");
}

describe("OnnxRuntime", () => {
  test("runs the tiny model on the CPU and matches the reference computation", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "auto", threads: 1 });
    try {
      expect(rt.provider).toBe("cpu");
      for (const batch of [1, 3]) {
        const input = x(batch);
        const out = await rt.run(desc, load, { x: input });
        const y = out.y;
        expect(y?.dims).toEqual([batch, 3]);
        const ref = tinyModelReference(input.data as Float32Array);
        const cmp = tensorsClose({ y: { dtype: "float32", dims: [batch, 3], data: ref } }, out, {
          rtol: 1e-5,
        });
        expect(cmp.reason).toBeUndefined();
        expect(cmp.equal).toBe(true);
        expect(Array.from(y?.data as Float32Array).some((v) => v > 0)).toBe(true);
      }
      expect(rt.warmModels()).toEqual([desc.sha256]);
    } finally {
      await rt.close();
    }
  });

  test("a model that proves tiny also runs on the calling thread, with the same outputs and hashes", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu" });
    const off = await OnnxRuntime.create({ executionProvider: "cpu", inlineTinyModels: false });
    try {
      const check = async (r: OnnxRuntime, batch: number) => {
        const input = x(batch);
        const ran = await r.runHashed(desc, load, { x: input });
        const ref = tinyModelReference(input.data as Float32Array);
        const cmp = tensorsClose({ y: { dtype: "float32", dims: [batch, 3], data: ref } }, ran.outputs, {
          rtol: 1e-5,
        });
        expect(cmp.equal).toBe(true);
        expect(ran.inputHash).toBe(hashTensors({ x: input }));
        expect(ran.outputHash).toBe(hashTensors(ran.outputs));
        // Bit for bit what the inference thread computes.
        if (r !== off)
          expect(ran.outputHash).toBe((await off.runHashed(desc, load, { x: input })).outputHash);
      };
      const t0 = performance.now();
      while (rt.inlineModels().length === 0 && performance.now() - t0 < 5_000) await check(rt, 1);
      expect(rt.inlineModels()).toEqual([desc.sha256]);
      // Inputs as small as those seen running fast run here; larger ones go to the thread.
      for (const batch of [1, 1, 2000, 1]) await check(rt, batch);
      for (let i = 0; i < 40; i++) await check(off, 1);
      expect(off.inlineModels()).toEqual([]);
    } finally {
      await rt.close();
      await off.close();
    }
    expect(rt.inlineModels()).toEqual([]);
  });

  test("refuses inputs that do not fit the declared signature", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu" });
    try {
      expect(await codeOf(rt.run(desc, load, {}))).toBe("INVALID_INPUT");
      expect(await codeOf(rt.run(desc, load, { x: x(1), extra: x(1) }))).toBe("INVALID_INPUT");
      const wrongDtype: Tensor = { dtype: "float64", dims: [1, 4], data: new Float64Array(4) };
      expect(await codeOf(rt.run(desc, load, { x: wrongDtype }))).toBe("INVALID_INPUT");
      const wrongDims: Tensor = { dtype: "float32", dims: [1, 5], data: new Float32Array(5) };
      expect(await codeOf(rt.run(desc, load, { x: wrongDims }))).toBe("INVALID_INPUT");
      // A named axis must take one size across all inputs.
      const two: ModelDescriptor = {
        ...desc,
        inputs: [
          { name: "x", dtype: "float32", dims: ["batch", 4] },
          { name: "m", dtype: "float32", dims: ["batch"] },
        ],
      };
      const m: Tensor = { dtype: "float32", dims: [2], data: new Float32Array(2) };
      const err = await rt.run(two, load, { x: x(1), m }).catch((e: unknown) => e);
      expect((err as RuntimeError).code).toBe("INVALID_INPUT");
      expect((err as RuntimeError).message).toContain("named axis");
    } finally {
      await rt.close();
    }
  });

  test("a model whose outputs contradict its descriptor fails with INFERENCE_FAILED", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu" });
    try {
      const lying: ModelDescriptor = {
        ...desc,
        outputs: [{ name: "y", dtype: "float32", dims: ["batch", 7] }],
      };
      expect(await codeOf(rt.run(lying, load, { x: x(1) }))).toBe("INFERENCE_FAILED");
    } finally {
      await rt.close();
    }
  });

  test("bytes that do not hash to the descriptor's sha256 are refused before use", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu" });
    try {
      const tampered = tinyModelBytes();
      tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 1;
      expect(await codeOf(rt.run(desc, async () => tampered, { x: x(1) }))).toBe("MODEL_HASH_MISMATCH");
      expect(rt.warmModels()).toEqual([]);
    } finally {
      await rt.close();
    }
  });

  test("graph optimisation level and threads reach the session options", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu", threads: 2, graphOptimization: "basic" });
    expect(rt.sessionOptions()).toMatchObject({
      graphOptimizationLevel: "basic",
      intraOpNumThreads: 2,
      executionProviders: ["cpu"],
    });
    await rt.close();
  });

  test("inference runs off the event loop: timers keep firing during a long run", async () => {
    const rt = await OnnxRuntime.create({ executionProvider: "cpu" });
    try {
      const det = PPOCR_V4_DET;
      const bytes = async () => Bun.file(resolveNpmSource(det.sources[0] ?? "") ?? "").bytes();
      const input: Tensor = {
        dtype: "float32",
        dims: [1, 3, 640, 640],
        data: new Float32Array(3 * 640 * 640),
      };
      await rt.run(det, bytes, { x: input }); // warm
      let ticks = 0;
      const timer = setInterval(() => ticks++, 2);
      const t0 = performance.now();
      const out = await rt.run(det, bytes, { x: input });
      const ms = performance.now() - t0;
      clearInterval(timer);
      expect(out["sigmoid_0.tmp_0"]?.dims).toEqual([1, 1, 640, 640]);
      // A blocked loop would fire at most once; a free one about every 2 ms.
      expect(ticks).toBeGreaterThanOrEqual(Math.min(5, Math.floor(ms / 10)));
      expect(ticks).toBeGreaterThan(1);
    } finally {
      await rt.close();
    }
  });

  test("the embedded probe model is the tiny model, with the output the doctor expects", () => {
    expect(Buffer.from(probeModelBytes()).equals(Buffer.from(tinyModelBytes()))).toBe(true);
    const ref = Array.from(tinyModelReference(Float32Array.from(PROBE_INPUT)));
    PROBE_OUTPUT.forEach((v, i) => {
      expect(ref[i]).toBeCloseTo(v, 5);
    });
  });
});

describe("chooseExecutionProvider", () => {
  const gpu = { name: "NVIDIA A10" };
  test("auto picks CUDA only with a GPU and the provider library", () => {
    expect(chooseExecutionProvider("auto", { gpu, cudaProviderLib: "/x/lib.so" }).provider).toBe("cuda");
    expect(chooseExecutionProvider("auto", { gpu, cudaProviderLib: null })).toMatchObject({
      provider: "cpu",
      gpu: { name: "NVIDIA A10", cuda: false },
    });
    expect(chooseExecutionProvider("auto", { gpu: null, cudaProviderLib: null }).gpu).toBeNull();
  });
  test("cpu is honoured and cuda without a GPU is an error", () => {
    expect(chooseExecutionProvider("cpu", { gpu, cudaProviderLib: "/x" }).provider).toBe("cpu");
    expect(() => chooseExecutionProvider("cuda", { gpu: null, cudaProviderLib: null })).toThrow(
      /no NVIDIA GPU/,
    );
  });
});

describe("SessionPool", () => {
  test("keeps the most recently used sessions and closes idle ones beyond capacity", async () => {
    const closed: string[] = [];
    let created = 0;
    const pool = new SessionPool<string>({ capacity: 2, close: async (s) => void closed.push(s) });
    const make = (k: string) => async () => {
      created++;
      return k;
    };
    const id = async (s: string) => s;
    await pool.use("a", make("a"), id);
    await pool.use("b", make("b"), id);
    await pool.use("a", make("a"), id); // a is now most recent
    await pool.use("c", make("c"), id);
    expect(closed).toEqual(["b"]);
    expect(pool.keys().sort()).toEqual(["a", "c"]);
    expect(created).toBe(3);
    // Concurrent users of a cold key share one creation.
    await Promise.all([pool.use("d", make("d"), id), pool.use("d", make("d"), id)]);
    expect(created).toBe(4);
  });

  test("never closes a session in use", async () => {
    const closed: string[] = [];
    const pool = new SessionPool<string>({ capacity: 1, close: async (s) => void closed.push(s) });
    let release: () => void = () => {};
    const busy = pool.use(
      "a",
      async () => "a",
      () => new Promise<void>((r) => (release = r)),
    );
    await Bun.sleep(1);
    await pool.use(
      "b",
      async () => "b",
      async () => {},
    );
    expect(closed).toEqual(["b"]);
    release();
    await busy;
    expect(closed).toEqual(["b"]);
    expect(pool.keys()).toEqual(["a"]);
  });

  test("a failed creation is not cached", async () => {
    const pool = new SessionPool<string>({ capacity: 2, close: async () => {} });
    await expect(
      pool.use(
        "a",
        async () => Promise.reject(new Error("boom")),
        async (s) => s,
      ),
    ).rejects.toThrow("boom");
    expect(
      await pool.use(
        "a",
        async () => "ok",
        async (s) => s,
      ),
    ).toBe("ok");
  });
});

describe("tensorsClose", () => {
  const t = (vals: number[]): Record<string, Tensor> => ({
    y: { dtype: "float32", dims: [vals.length], data: Float32Array.from(vals) },
  });
  test("accepts last-digit differences and rejects real ones", () => {
    expect(tensorsClose(t([1, 2, 3]), t([1.0000001, 2, 3])).equal).toBe(true);
    const r = tensorsClose(t([1, 2, 3]), t([1, 2.1, 3]));
    expect(r.equal).toBe(false);
    expect(r.reason).toContain("y[1]");
  });
});

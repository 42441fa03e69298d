import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashTaskResult, type ModelDescriptor } from "@ncn/protocol";
import { RuntimeError } from "./errors.ts";
import { TaskExecutor } from "./executor.ts";
import { EXECUTABLE_RUNTIMES } from "./runtime.ts";
import { OnnxRuntime } from "./runtimes/onnx/onnx-runtime.ts";
import { NCN_GLOVE, ncnGloveTask } from "./runtimes/text-embedding/builtin-models.ts";
import { ModelStore } from "./store/model-store.ts";
import { STRICT_SOURCE_POLICY } from "./store/source-policy.ts";
import { encodeTensorJson } from "./tensor-codec.ts";
import { tinyModelBytes, tinyModelDescriptor } from "./testing/tiny-model.ts";

let dir: string;
let onnx: OnnxRuntime;
let executor: TaskExecutor;
let tiny: ModelDescriptor;
const x = () => ({
  x: encodeTensorJson({ dtype: "float32", dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) }),
});

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-executor-"));
  writeFileSync(join(dir, "tiny.onnx"), tinyModelBytes());
  tiny = tinyModelDescriptor({ sources: [`file:${join(dir, "tiny.onnx")}`] });
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  const store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes: 64 * 1024 * 1024,
    ttlMs: 3_600_000,
    sources: { ...STRICT_SOURCE_POLICY, localDirs: [dir] },
  });
  executor = new TaskExecutor({ store, runtime: onnx });
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("TaskExecutor", () => {
  test("runs exactly the model runtimes EXECUTABLE_RUNTIMES names, one runtime per task kind", () => {
    const served = new Set(executor.runtimes.map((r) => r.modelRuntime));
    expect([...served].sort()).toEqual([...EXECUTABLE_RUNTIMES].sort());
    const kinds = executor.runtimes.map((r) => `${r.taskKind}/${r.modelRuntime}`);
    expect(new Set(kinds).size).toBe(kinds.length);
    expect(kinds.sort()).toEqual([
      "embed/onnx",
      "generate/onnx",
      "ocr/onnx",
      "tensor/onnx",
      "transcribe/onnx",
    ]);
  });

  test("dispatches an embed task to the built-in embedding model, whose manifest is the model hash", async () => {
    const outcome = await executor.execute({ kind: "embed", ...ncnGloveTask(), texts: ["a cat", "a dog"] });
    expect(outcome.modelHash).toBe(NCN_GLOVE.sha256);
    expect(outcome.result.kind).toBe("embed");
    expect(outcome.outputHash).toBe(hashTaskResult(outcome.result));
    expect(outcome.timings.infer).toBeGreaterThanOrEqual(0);
  });

  test("dispatches a task to its runtime and commits to the model, input and output", async () => {
    const outcome = await executor.execute({ kind: "tensor", model: tiny, inputs: x() });
    expect(outcome.modelHash).toBe(tiny.sha256);
    expect(outcome.outputHash).toBe(hashTaskResult(outcome.result));
    expect(outcome.timings.infer).toBeGreaterThanOrEqual(0);
    expect(outcome.timings.total).toBeGreaterThanOrEqual(outcome.timings.infer ?? 0);
    expect(outcome.finishedAt).toBeGreaterThanOrEqual(outcome.startedAt);
  });

  test("refuses a model whose runtime it does not run, naming the runtime", async () => {
    const python: ModelDescriptor = { ...tiny, id: "py-model" as ModelDescriptor["id"], runtime: "python" };
    const err = await executor
      .execute({ kind: "tensor", model: python, inputs: x() })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).code).toBe("INVALID_INPUT");
    expect((err as RuntimeError).shortMessage).toBe("model py-model needs the python runtime");
  });
});

// One contract, run against every Runtime implementation: what the executor relies on
// when it dispatches a task. A new runtime (language model, embeddings, speech) adds one
// entry to IMPLEMENTATIONS with a real model and passes the same body.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToBase64,
  decodeEmbedding,
  hashTaskInput,
  hashTaskResult,
  type ModelDescriptor,
  type TaskInput,
} from "@ncn/protocol";
import { RuntimeError } from "./errors.ts";
import { ppocrV4Task } from "./ocr/builtin-models.ts";
import { OcrRuntime } from "./ocr/ocr-runtime.ts";
import { EXECUTABLE_RUNTIMES, type Runtime, type RuntimeContext, type TaskWork } from "./runtime.ts";
import { NCN_GPT } from "./runtimes/causal-lm/builtin-models.ts";
import { CausalLmRuntime } from "./runtimes/causal-lm/causal-lm-runtime.ts";
import { OnnxRuntime } from "./runtimes/onnx/onnx-runtime.ts";
import { OnnxTensorRuntime } from "./runtimes/onnx/tensor-runtime.ts";
import { NCN_WHISPER } from "./runtimes/speech-to-text/builtin-models.ts";
import { SpeechToTextRuntime } from "./runtimes/speech-to-text/speech-to-text-runtime.ts";
import { ncnGloveTask } from "./runtimes/text-embedding/builtin-models.ts";
import { TextEmbeddingRuntime } from "./runtimes/text-embedding/text-embedding-runtime.ts";
import { ModelStore } from "./store/model-store.ts";
import { STRICT_SOURCE_POLICY } from "./store/source-policy.ts";
import { decodeTensorJson, encodeTensorJson } from "./tensor-codec.ts";
import { characterErrorRate, renderText } from "./testing/render-text.ts";
import { NCN_WHISPER_CER_BOUND, spokenSentences } from "./testing/spoken-audio.ts";
import { tinyModelBytes, tinyModelDescriptor, tinyModelReference } from "./testing/tiny-model.ts";

let dir: string;
let onnx: OnnxRuntime;
let store: ModelStore;
let tiny: ModelDescriptor;
const loadModel = (m: ModelDescriptor) => store.load(m);

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-runtime-contract-"));
  writeFileSync(join(dir, "tiny.onnx"), tinyModelBytes());
  tiny = tinyModelDescriptor({ sources: [`file:${join(dir, "tiny.onnx")}`] });
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes: 200 * 1024 * 1024,
    ttlMs: 3_600_000,
    sources: { ...STRICT_SOURCE_POLICY, localDirs: [dir] },
  });
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Implementation {
  name: string;
  make(): Runtime;
  /** A task the runtime serves, on a real model. */
  task(): TaskWork;
  /** Fails unless the result is the right answer for `task()`. */
  checkResult(run: Awaited<ReturnType<Runtime["run"]>>): void;
}

const X = new Float32Array([1, -2, 3, 0.5, 0, 1, 0, 1]);
const PAGE = ["Receipts are signed", "by every agent"];
const SENTENCES = [
  "The kitten slept on the rug.",
  "The cat rested on the carpet.",
  "The table was in the drawing room.",
];

const [SPOKEN] = spokenSentences();
if (!SPOKEN) throw new Error("no held-out spoken sentence");

const IMPLEMENTATIONS: Implementation[] = [
  {
    name: "OnnxTensorRuntime",
    make: () => new OnnxTensorRuntime({ onnx, loadModel }),
    task: () => ({
      kind: "tensor",
      model: tiny,
      inputs: { x: encodeTensorJson({ dtype: "float32", dims: [2, 4], data: X }) },
    }),
    checkResult(run) {
      if (run.result.kind !== "tensor") throw new Error(`expected tensor outputs, got ${run.result.kind}`);
      const json = run.result.outputs.y;
      if (!json) throw new Error("output y missing");
      const y = decodeTensorJson(json);
      expect(y.dims).toEqual([2, 3]);
      const want = tinyModelReference(X);
      for (const [i, w] of want.entries()) expect(Number(y.data[i])).toBeCloseTo(w, 5);
    },
  },
  {
    name: "OcrRuntime",
    make: () => new OcrRuntime({ onnx, loadModel, concurrency: 1 }),
    task: () => ({
      kind: "ocr",
      ...ppocrV4Task(),
      image: Buffer.from(renderText({ lines: PAGE, font: "sans", size: 32 })).toString("base64"),
    }),
    checkResult(run) {
      if (run.result.kind !== "ocr") throw new Error(`expected OCR lines, got ${run.result.kind}`);
      const text = run.result.lines.map((l) => l.text).join("\n");
      expect(characterErrorRate(PAGE.join("\n"), text)).toBeLessThan(0.1);
    },
  },
  {
    name: "TextEmbeddingRuntime",
    make: () => new TextEmbeddingRuntime({ onnx, loadModel }),
    task: () => ({ kind: "embed", ...ncnGloveTask(), texts: SENTENCES }),
    checkResult(run) {
      if (run.result.kind !== "embed") throw new Error(`expected embeddings, got ${run.result.kind}`);
      const { dims, embeddings } = run.result;
      const [kitten, cat, table] = embeddings.map((e) => decodeEmbedding(e, dims));
      if (!kitten || !cat || !table) throw new Error("three vectors expected");
      const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
      expect(dot(kitten, cat)).toBeGreaterThan(dot(kitten, table) + 0.1);
    },
  },
  {
    name: "CausalLmRuntime",
    make: () => new CausalLmRuntime({ onnx, loadModel }),
    task: () => ({
      kind: "generate",
      model: NCN_GPT,
      prompt: "And God said unto Moses,",
      sampling: { max_tokens: 12, temperature: 0, top_p: 1, seed: 0, stop: [] },
    }),
    checkResult(run) {
      if (run.result.kind !== "generate") throw new Error(`expected generated text, got ${run.result.kind}`);
      expect(run.result.tokens.length).toBeGreaterThan(0);
      expect(run.result.completion_tokens).toBe(run.result.tokens.length);
      expect(run.result.text).toMatch(/[a-z]+ [a-z]+/i);
    },
  },
  {
    name: "SpeechToTextRuntime",
    make: () => new SpeechToTextRuntime({ onnx, loadModel }),
    task: () => ({ kind: "transcribe", model: NCN_WHISPER, audio: bytesToBase64(SPOKEN.wav) }),
    checkResult(run) {
      if (run.result.kind !== "transcribe") throw new Error(`expected a transcript, got ${run.result.kind}`);
      expect(characterErrorRate(SPOKEN.target, run.result.text)).toBeLessThan(NCN_WHISPER_CER_BOUND);
      expect(run.result.audio_seconds).toBeGreaterThan(1);
    },
  },
];

/** The protocol's view of a task's input, which the receipt's input hash commits to. */
function inputOf(task: TaskWork): TaskInput {
  switch (task.kind) {
    case "tensor":
      return { kind: "tensor", model: task.model.id, inputs: task.inputs };
    case "ocr":
      return { kind: "ocr", model: task.model.id, image: task.image };
    case "embed":
      return { kind: "embed", model: task.model.id, texts: task.texts };
    case "generate":
      return { kind: "generate", model: task.model.id, prompt: task.prompt, sampling: task.sampling };
    case "transcribe":
      return { kind: "transcribe", model: task.model.id, audio: task.audio };
  }
}

/** A context over the real model store that records every model the runtime fetched. */
function context(extra: Partial<RuntimeContext> = {}): RuntimeContext & { fetched: string[] } {
  const fetched: string[] = [];
  return {
    ...extra,
    fetched,
    async fetchModel(m) {
      fetched.push(m.id);
      await store.ensure(m);
    },
  };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof RuntimeError ? e.code : `untyped: ${String(e)}`;
  }
}

describe.each(IMPLEMENTATIONS)("Runtime contract: $name", (impl) => {
  test("declares the task kind and an executable model runtime it serves", () => {
    const runtime = impl.make();
    expect(runtime.name).toBeTruthy();
    expect(EXECUTABLE_RUNTIMES).toContain(runtime.modelRuntime);
    expect(impl.task().kind).toBe(runtime.taskKind);
    expect(impl.task().model.runtime).toBe(runtime.modelRuntime);
  });

  test("runs a task on a real model and reports the hashes a receipt commits to", async () => {
    const task = impl.task();
    const ctx = context();
    const run = await impl.make().run(task, ctx);
    impl.checkResult(run);
    expect(run.result.kind).toBe(task.kind);
    expect(run.inputHash).toBe(hashTaskInput(inputOf(task)));
    expect(run.outputHash).toBe(hashTaskResult(run.result));
    expect(ctx.fetched).toContain(task.model.id);
    expect(Object.values(run.timings).every((ms) => ms >= 0)).toBe(true);
  });

  test("refuses a model of another runtime with a typed error, before fetching anything", async () => {
    const task = impl.task();
    const ctx = context();
    const python = { ...task, model: { ...task.model, runtime: "python" as const } };
    expect(await codeOf(impl.make().run(python, ctx))).toBe("INVALID_INPUT");
    expect(ctx.fetched).toEqual([]);
  });

  test("refuses a task of another kind with a typed error, before fetching anything", async () => {
    const runtime = impl.make();
    const others = IMPLEMENTATIONS.map((i) => i.task()).filter((t) => t.kind !== runtime.taskKind);
    expect(others.length).toBeGreaterThan(0);
    for (const other of others) {
      const ctx = context();
      expect(await codeOf(runtime.run(other, ctx))).toBe("INVALID_INPUT");
      expect(ctx.fetched).toEqual([]);
    }
  });

  test("honours an aborted signal with CANCELLED", async () => {
    const controller = new AbortController();
    controller.abort();
    expect(await codeOf(impl.make().run(impl.task(), context({ signal: controller.signal })))).toBe(
      "CANCELLED",
    );
  });
});

import type { ModelDescriptor, TaskResult } from "@ncn/protocol";
import { RuntimeError } from "./errors.ts";
import { type Logger, silentLogger } from "./log/logger.ts";
import { OcrRuntime } from "./ocr/ocr-runtime.ts";
import type { OcrParams, OcrPipeline } from "./ocr/pipeline.ts";
import { type Runtime, type TaskWork, type TokenDelta, throwIfCancelled } from "./runtime.ts";
import { CausalLmRuntime } from "./runtimes/causal-lm/causal-lm-runtime.ts";
import type { OnnxRuntime } from "./runtimes/onnx/onnx-runtime.ts";
import { OnnxTensorRuntime } from "./runtimes/onnx/tensor-runtime.ts";
import { SpeechToTextRuntime } from "./runtimes/speech-to-text/speech-to-text-runtime.ts";
import { TextEmbeddingRuntime } from "./runtimes/text-embedding/text-embedding-runtime.ts";
import type { ModelStore } from "./store/model-store.ts";

export type { TaskWork } from "./runtime.ts";

export interface ExecuteOptions {
  signal?: AbortSignal;
  /** Called as the task moves through its stages (for `progress` frames). */
  onProgress?: (stage: string, progress?: number) => void;
  /** Called as a `generate` task produces tokens (for streaming them). */
  onToken?: (delta: TokenDelta) => void;
}

export interface TaskOutcome {
  result: TaskResult;
  /** sha256 of the task's model (for OCR: of the pipeline manifest). */
  modelHash: `0x${string}`;
  inputHash: `0x${string}`;
  outputHash: `0x${string}`;
  startedAt: number;
  finishedAt: number;
  /** Milliseconds per stage, for logs. */
  timings: Record<string, number>;
}

export interface TaskExecutorOptions {
  store: ModelStore;
  runtime: OnnxRuntime;
  log?: Logger;
  ocrParams?: Partial<OcrParams>;
  /** Models served without a download (default: the built-in OCR and embedding models). */
  builtin?: readonly ModelDescriptor[];
  /** OCR pipelines run at once (default: one per core, at most 4); more tasks wait their turn. */
  ocrConcurrency?: number;
}

/**
 * Runs one task: picks the runtime that serves its kind and model, gives it the model
 * store (models fetched for the task stay pinned while it runs), and returns what the
 * receipt commits to: the model hash and the input and output hashes.
 */
export class TaskExecutor {
  readonly store: ModelStore;
  readonly runtime: OnnxRuntime;
  /** The OCR runtime's pipeline (benchmarks time its stages directly). */
  readonly ocr: OcrPipeline;
  /** Every runtime tasks are dispatched to, one per task kind and model runtime. */
  readonly runtimes: readonly Runtime[];
  readonly #log: Logger;

  constructor(options: TaskExecutorOptions) {
    this.store = options.store;
    this.runtime = options.runtime;
    this.#log = (options.log ?? silentLogger).child({ component: "runtime:executor" });
    const loadModel = (m: ModelDescriptor) => this.store.load(m);
    const ocr = new OcrRuntime({
      onnx: options.runtime,
      loadModel,
      ...(options.ocrParams ? { params: options.ocrParams } : {}),
      ...(options.builtin ? { builtin: options.builtin } : {}),
      ...(options.ocrConcurrency === undefined ? {} : { concurrency: options.ocrConcurrency }),
    });
    this.ocr = ocr.pipeline;
    const embed = new TextEmbeddingRuntime({
      onnx: options.runtime,
      loadModel,
      ...(options.builtin ? { builtin: options.builtin } : {}),
    });
    this.runtimes = [
      new OnnxTensorRuntime({ onnx: options.runtime, loadModel }),
      ocr,
      embed,
      new CausalLmRuntime({ onnx: options.runtime, loadModel }),
      new SpeechToTextRuntime({ onnx: options.runtime, loadModel }),
    ];
  }

  async execute(task: TaskWork, options: ExecuteOptions = {}): Promise<TaskOutcome> {
    const startedAt = Date.now();
    const t0 = performance.now();
    const runtime = this.#runtimeFor(task);
    const unpins: (() => void)[] = [];
    try {
      const run = await runtime.run(task, {
        ...options,
        fetchModel: async (m: ModelDescriptor) => {
          unpins.push(this.store.pin(m.sha256));
          if (!this.store.has(m.sha256)) options.onProgress?.("download", 0);
          await this.store.ensure(m, options.signal ? { signal: options.signal } : {});
        },
      });
      throwIfCancelled(options.signal);
      const outcome: TaskOutcome = {
        result: run.result,
        modelHash: task.model.sha256,
        inputHash: run.inputHash,
        outputHash: run.outputHash,
        startedAt,
        finishedAt: Date.now(),
        timings: { ...run.timings, total: performance.now() - t0 },
      };
      this.#log.debug("task executed", { model: task.model.id, kind: task.kind, timings: outcome.timings });
      return outcome;
    } finally {
      for (const u of unpins) u();
    }
  }

  #runtimeFor(task: TaskWork): Runtime {
    const runtime =
      this.runtimes.find((r) => r.taskKind === task.kind && r.modelRuntime === task.model.runtime) ??
      this.runtimes.find((r) => r.taskKind === task.kind);
    // A runtime of the task's kind refuses a model of another runtime with a typed error.
    if (!runtime) throw new RuntimeError("INVALID_INPUT", `no runtime runs ${task.kind} tasks`);
    return runtime;
  }
}

import {
  hashBytes,
  hashOcrLines,
  type ModelDescriptor,
  type TaskFrame,
  type TaskResult,
  type Tensor,
  type TensorMapJson,
} from "@ncn/protocol";
import { AgentError } from "./errors.ts";
import { type Logger, silentLogger } from "./log/logger.ts";
import { BUILTIN_MODELS } from "./ocr/builtin-models.ts";
import type { OcrModels } from "./ocr/manifest.ts";
import { type OcrParams, OcrPipeline, type OcrStage } from "./ocr/pipeline.ts";
import { resolveOcrModels } from "./ocr/resolve-models.ts";
import type { OnnxRuntime } from "./runtimes/onnx/onnx-runtime.ts";
import type { ModelStore } from "./store/model-store.ts";
import { machineInfo } from "./system/machine.ts";
import { decodeTensorJson, encodeTensorJson } from "./tensor-codec.ts";

export interface ExecuteOptions {
  signal?: AbortSignal;
  /** Called as the task moves through its stages (for `progress` frames). */
  onProgress?: (stage: string, progress?: number) => void;
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
  /** Models served without a download (default: the built-in OCR models). */
  builtin?: readonly ModelDescriptor[];
  /** OCR pipelines run at once (default: one per core, at most 4); more tasks wait their turn. */
  ocrConcurrency?: number;
}

/** A counting semaphore: at most `size` holders at once, the others wait in order. */
class Slots {
  #free: number;
  readonly #waiters: (() => void)[] = [];

  constructor(size: number) {
    this.#free = Math.max(1, size);
  }

  async acquire(): Promise<() => void> {
    if (this.#free > 0) this.#free--;
    else await new Promise<void>((r) => this.#waiters.push(r));
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next();
      else this.#free++;
    };
  }
}

/** The part of a task frame the executor needs (the link adds ids and deadlines). */
export type TaskWork =
  | Pick<Extract<TaskFrame, { kind: "tensor" }>, "kind" | "model" | "inputs">
  | Pick<Extract<TaskFrame, { kind: "ocr" }>, "kind" | "model" | "image" | "pipeline">;

function aborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new AgentError("CANCELLED", "task cancelled");
}

/**
 * Runs one task: fetches its models into the store (pinned while in use), runs the
 * tensor model or the OCR pipeline, and computes the input and output hashes the
 * receipt commits to.
 */
export class TaskExecutor {
  readonly store: ModelStore;
  readonly runtime: OnnxRuntime;
  readonly ocr: OcrPipeline;
  readonly #builtin: readonly ModelDescriptor[];
  readonly #log: Logger;
  // An OCR page holds decoded images and feature maps; tensor tasks are small and all
  // queue on the one inference thread, so only OCR needs a limit below maxConcurrency.
  readonly #ocrSlots: Slots;

  constructor(options: TaskExecutorOptions) {
    this.store = options.store;
    this.runtime = options.runtime;
    this.#builtin = options.builtin ?? BUILTIN_MODELS;
    this.#log = (options.log ?? silentLogger).child({ component: "agent:executor" });
    this.#ocrSlots = new Slots(options.ocrConcurrency ?? Math.min(4, machineInfo().cores));
    this.ocr = new OcrPipeline({
      runtime: options.runtime,
      loadModel: (m) => this.store.load(m),
      ...(options.ocrParams ? { params: options.ocrParams } : {}),
    });
  }

  async execute(task: TaskWork, options: ExecuteOptions = {}): Promise<TaskOutcome> {
    const startedAt = Date.now();
    const t0 = performance.now();
    if (task.model.runtime !== "onnx") {
      throw new AgentError("INVALID_INPUT", `model ${task.model.id} needs the ${task.model.runtime} runtime`);
    }
    const unpins: (() => void)[] = [];
    try {
      const fetchModel = async (m: ModelDescriptor) => {
        unpins.push(this.store.pin(m.sha256));
        if (!this.store.has(m.sha256)) options.onProgress?.("download", 0);
        await this.store.ensure(m, options.signal ? { signal: options.signal } : {});
      };
      let result: TaskResult;
      // The hashes are the protocol's hashTaskInput / hashTaskResult, computed on the
      // decoded tensors the task already holds instead of decoding them a second time
      // (for tensor tasks by the runtime, on the inference thread when the run is there).
      let inputHash: `0x${string}`;
      let outputHash: `0x${string}`;
      const timings: Record<string, number> = {};
      if (task.kind === "tensor") {
        const inputs: Record<string, Tensor> = {};
        for (const [name, t] of Object.entries(task.inputs)) inputs[name] = decodeTensorJson(t);
        await fetchModel(task.model);
        aborted(options.signal);
        options.onProgress?.("infer", 0);
        const t1 = performance.now();
        const ran = await this.runtime.runHashed(task.model, () => this.store.load(task.model), inputs);
        const outputs = ran.outputs;
        inputHash = ran.inputHash;
        outputHash = ran.outputHash;
        timings.infer = performance.now() - t1;
        const json: TensorMapJson = {};
        for (const [name, t] of Object.entries(outputs)) json[name] = encodeTensorJson(t);
        result = { kind: "tensor", outputs: json };
      } else {
        const image = new Uint8Array(Buffer.from(task.image, "base64"));
        await fetchModel(task.model);
        const models = await resolveOcrModels(
          task.model,
          task.pipeline,
          (m) => this.store.load(m),
          this.#builtin,
        );
        for (const m of partsOf(models)) await fetchModel(m);
        const release = await this.#ocrSlots.acquire();
        let run: Awaited<ReturnType<OcrPipeline["run"]>>;
        try {
          aborted(options.signal);
          run = await this.ocr.run(models, image, {
            ...(options.signal ? { signal: options.signal } : {}),
            onStage: (stage: OcrStage, p: number) => options.onProgress?.(stage, p),
          });
        } finally {
          release();
        }
        Object.assign(timings, run.timings);
        result = { kind: "ocr", lines: run.lines };
        inputHash = hashBytes(image);
        outputHash = hashOcrLines(run.lines);
      }
      aborted(options.signal);
      const outcome: TaskOutcome = {
        result,
        modelHash: task.model.sha256,
        inputHash,
        outputHash,
        startedAt,
        finishedAt: Date.now(),
        timings: { ...timings, total: performance.now() - t0 },
      };
      this.#log.debug("task executed", { model: task.model.id, kind: task.kind, timings: outcome.timings });
      return outcome;
    } finally {
      for (const u of unpins) u();
    }
  }
}

function partsOf(m: OcrModels): ModelDescriptor[] {
  return [m.det, m.rec, m.dict, ...(m.cls ? [m.cls] : [])];
}

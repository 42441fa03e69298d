import { hashBytes, hashOcrLines, type ModelDescriptor } from "@ncn/protocol";
import {
  type Runtime,
  type RuntimeContext,
  type RuntimeRun,
  servedTask,
  type TaskWork,
  throwIfCancelled,
} from "../runtime.ts";
import type { OnnxRuntime } from "../runtimes/onnx/onnx-runtime.ts";
import { machineInfo } from "../system/machine.ts";
import { Slots } from "../system/slots.ts";
import { OCR_BUILTIN_MODELS } from "./builtin-models.ts";
import type { OcrModels } from "./manifest.ts";
import { type OcrParams, OcrPipeline, type OcrStage } from "./pipeline.ts";
import { resolveOcrModels } from "./resolve-models.ts";

export interface OcrRuntimeOptions {
  onnx: OnnxRuntime;
  /** Verified bytes of a model the task has fetched. */
  loadModel: (model: ModelDescriptor) => Promise<Uint8Array>;
  params?: Partial<OcrParams>;
  /** Models served without a download (default: the built-in OCR models). */
  builtin?: readonly ModelDescriptor[];
  /** Pages read at once (default: one per core, at most 4); more tasks wait their turn. */
  concurrency?: number;
}

/**
 * `ocr` tasks: a page image in, its text lines out, read by the OCR pipeline whose parts
 * (detection, classification, recognition, dictionary) the task's model names.
 *
 * @example const run = await new OcrRuntime({ onnx, loadModel }).run({ kind: "ocr", ...ppocrV4Task(), image }, { fetchModel });
 */
export class OcrRuntime implements Runtime<"ocr"> {
  readonly name = "ocr";
  readonly taskKind = "ocr";
  readonly modelRuntime = "onnx";
  readonly pipeline: OcrPipeline;
  readonly #load: OcrRuntimeOptions["loadModel"];
  readonly #builtin: readonly ModelDescriptor[];
  // A page holds decoded images and feature maps; tensor tasks are small and all queue on
  // the one inference thread, so only OCR needs a limit below the agent's task concurrency.
  readonly #slots: Slots;

  constructor(options: OcrRuntimeOptions) {
    this.#load = options.loadModel;
    this.#builtin = options.builtin ?? OCR_BUILTIN_MODELS;
    this.#slots = new Slots(options.concurrency ?? Math.min(4, machineInfo().cores));
    this.pipeline = new OcrPipeline({
      runtime: options.onnx,
      loadModel: options.loadModel,
      ...(options.params ? { params: options.params } : {}),
    });
  }

  async run(work: TaskWork, context: RuntimeContext): Promise<RuntimeRun> {
    const task = servedTask(this, work);
    const image = new Uint8Array(Buffer.from(task.image, "base64"));
    await context.fetchModel(task.model);
    const models = await resolveOcrModels(task.model, task.pipeline, this.#load, this.#builtin);
    for (const m of partsOf(models)) await context.fetchModel(m);
    const release = await this.#slots.acquire();
    let run: Awaited<ReturnType<OcrPipeline["run"]>>;
    try {
      throwIfCancelled(context.signal);
      run = await this.pipeline.run(models, image, {
        ...(context.signal ? { signal: context.signal } : {}),
        onStage: (stage: OcrStage, p: number) => context.onProgress?.(stage, p),
      });
    } finally {
      release();
    }
    return {
      result: { kind: "ocr", lines: run.lines },
      inputHash: hashBytes(image),
      outputHash: hashOcrLines(run.lines),
      timings: { ...run.timings },
    };
  }
}

function partsOf(m: OcrModels): ModelDescriptor[] {
  return [m.det, m.rec, m.dict, ...(m.cls ? [m.cls] : [])];
}

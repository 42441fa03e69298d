import type { ModelDescriptor, Tensor, TensorMapJson } from "@ncn/protocol";
import {
  type Runtime,
  type RuntimeContext,
  type RuntimeRun,
  servedTask,
  type TaskWork,
  throwIfCancelled,
} from "../../runtime.ts";
import { decodeTensorJson, encodeTensorJson } from "../../tensor-codec.ts";
import type { OnnxRuntime } from "./onnx-runtime.ts";

export interface OnnxTensorRuntimeOptions {
  onnx: OnnxRuntime;
  /** Verified bytes of a model the task has fetched. */
  loadModel: (model: ModelDescriptor) => Promise<Uint8Array>;
}

/**
 * `tensor` tasks on ONNX models: named tensors in, the model's outputs out, run in the
 * ONNX runtime's session pool.
 *
 * @example const run = await new OnnxTensorRuntime({ onnx, loadModel }).run(task, { fetchModel });
 */
export class OnnxTensorRuntime implements Runtime<"tensor"> {
  readonly name = "onnx-tensor";
  readonly taskKind = "tensor";
  readonly modelRuntime = "onnx";
  readonly #onnx: OnnxRuntime;
  readonly #load: OnnxTensorRuntimeOptions["loadModel"];

  constructor(options: OnnxTensorRuntimeOptions) {
    this.#onnx = options.onnx;
    this.#load = options.loadModel;
  }

  async run(work: TaskWork, context: RuntimeContext): Promise<RuntimeRun> {
    const task = servedTask(this, work);
    const inputs: Record<string, Tensor> = {};
    for (const [name, t] of Object.entries(task.inputs)) inputs[name] = decodeTensorJson(t);
    await context.fetchModel(task.model);
    throwIfCancelled(context.signal);
    context.onProgress?.("infer", 0);
    const t0 = performance.now();
    // The hashes are the protocol's hashTaskInput / hashTaskResult, computed by the runtime
    // on the decoded tensors (on the inference thread when the run is there) instead of
    // decoding them a second time.
    const ran = await this.#onnx.runHashed(task.model, () => this.#load(task.model), inputs);
    const infer = performance.now() - t0;
    const outputs: TensorMapJson = {};
    for (const [name, t] of Object.entries(ran.outputs)) outputs[name] = encodeTensorJson(t);
    return {
      result: { kind: "tensor", outputs },
      inputHash: ran.inputHash,
      outputHash: ran.outputHash,
      timings: { infer },
    };
  }
}

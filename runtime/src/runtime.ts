import type { ModelDescriptor, ModelRuntime, TaskFrame, TaskResult } from "@ncn/protocol";
import { RuntimeError } from "./errors.ts";

/** The part of a task frame a runtime needs (the agent's link adds ids and deadlines). */
export type TaskWork =
  | Pick<Extract<TaskFrame, { kind: "tensor" }>, "kind" | "model" | "inputs">
  | Pick<Extract<TaskFrame, { kind: "ocr" }>, "kind" | "model" | "image" | "pipeline">
  | Pick<Extract<TaskFrame, { kind: "embed" }>, "kind" | "model" | "texts" | "pipeline">
  | Pick<Extract<TaskFrame, { kind: "generate" }>, "kind" | "model" | "prompt" | "sampling">
  | Pick<Extract<TaskFrame, { kind: "transcribe" }>, "kind" | "model" | "audio" | "language" | "prompt">;

/**
 * What a task asks for: `tensor` (one model, named tensors in and out), `ocr` (a page in,
 * lines out), `embed` (texts in, one vector each out), `generate` (a prompt in, generated
 * tokens and text out), `transcribe` (a WAV file in, its transcript out).
 */
export type TaskKind = TaskWork["kind"];

/** The task of one kind. */
export type TaskWorkOf<K extends TaskKind> = Extract<TaskWork, { kind: K }>;

/**
 * The model runtimes (`ModelDescriptor.runtime`) that the executor really runs. Anything
 * that offers a runtime to users (the CLI's `--runtime`, a catalog) offers these and no
 * other: a model registered with another one would be refused by every agent.
 */
export const EXECUTABLE_RUNTIMES = ["onnx"] as const satisfies readonly ModelRuntime[];

export type ExecutableRuntime = (typeof EXECUTABLE_RUNTIMES)[number];

/** True when models of `runtime` can be executed (narrows to `ExecutableRuntime`). */
export function isExecutableRuntime(runtime: string): runtime is ExecutableRuntime {
  return EXECUTABLE_RUNTIMES.some((r) => r === runtime);
}

/**
 * Text a generating runtime released: the token just chosen (`null` for the last flush)
 * and the text that became final with it. Text that may still turn into a stop string, or
 * an incomplete UTF-8 character, is held back until the next token settles it.
 */
export interface TokenDelta {
  /** Index of the token among the generated ones, or the count of them for the last flush. */
  index: number;
  token: number | null;
  text: string;
}

/** What the executor gives a runtime for one task. */
export interface RuntimeContext {
  signal?: AbortSignal;
  /** Called as the task moves through its stages (for `progress` frames). */
  onProgress?: (stage: string, progress?: number) => void;
  /** Called as a generating runtime produces tokens, so they can be streamed. */
  onToken?: (delta: TokenDelta) => void;
  /**
   * Makes a model's verified bytes available to the runtime's loader for the rest of the
   * task (downloads it if needed and keeps it from being evicted).
   */
  fetchModel(model: ModelDescriptor): Promise<void>;
}

/** What a runtime returns: the result and the hashes a receipt commits to. */
export interface RuntimeRun {
  result: TaskResult;
  /** The protocol's `hashTaskInput` of the task's input. */
  inputHash: `0x${string}`;
  /** The protocol's `hashTaskResult` of `result`. */
  outputHash: `0x${string}`;
  /** Milliseconds per stage, for logs. */
  timings: Record<string, number>;
}

/**
 * One kind of work the executor dispatches to: a task kind run on models of one model
 * runtime. The ONNX tensor runtime and the OCR pipeline implement it today; language
 * models, embeddings and speech plug in the same way, and every implementation passes
 * the contract test in `runtime.contract.test.ts`.
 *
 * @example
 * const tensor = new OnnxTensorRuntime({ onnx, loadModel: (m) => store.load(m) });
 * const run = await tensor.run(task, { fetchModel: (m) => store.ensure(m).then(() => {}) });
 */
export interface Runtime<K extends TaskKind = TaskKind> {
  /** Name for logs and errors, e.g. `onnx-tensor`. */
  readonly name: string;
  /** The task kind it runs. */
  readonly taskKind: K;
  /** The model runtime (`ModelDescriptor.runtime`) of the models it runs. */
  readonly modelRuntime: ExecutableRuntime;
  /**
   * Runs one task. A task of another kind, or for a model of another model runtime, is
   * refused with a `RuntimeError` (`INVALID_INPUT`) before any model is fetched; an
   * aborted signal ends it with `CANCELLED`.
   */
  run(task: TaskWork, context: RuntimeContext): Promise<RuntimeRun>;
}

/**
 * The task narrowed to the runtime's kind, or a `RuntimeError` saying why the runtime
 * does not serve it. Every implementation calls it first.
 */
export function servedTask<K extends TaskKind>(runtime: Runtime<K>, task: TaskWork): TaskWorkOf<K> {
  if (task.model.runtime !== runtime.modelRuntime) {
    throw new RuntimeError("INVALID_INPUT", `model ${task.model.id} needs the ${task.model.runtime} runtime`);
  }
  if (!isKind(task, runtime.taskKind)) {
    throw new RuntimeError("INVALID_INPUT", `the ${runtime.name} runtime does not run ${task.kind} tasks`);
  }
  return task;
}

function isKind<K extends TaskKind>(task: TaskWork, kind: K): task is TaskWorkOf<K> {
  return task.kind === kind;
}

/** Throws `CANCELLED` once the task's signal is aborted. */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new RuntimeError("CANCELLED", "task cancelled");
}

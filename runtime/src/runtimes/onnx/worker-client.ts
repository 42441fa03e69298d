import { embeddedAssets } from "../../embedded.ts";
import type { WorkerReply, WorkerRequest, WorkerStarted } from "./worker-protocol.ts";

type Pending = {
  resolve: (r: WorkerReply) => void;
  reject: (e: Error) => void;
  onStarted: (() => void) | undefined;
};
type Request = WorkerRequest extends infer R ? (R extends WorkerRequest ? Omit<R, "id"> : never) : never;

/** Where the inference thread's code is: embedded in the executable, or beside this file. */
function workerUrl(): string {
  return embeddedAssets().inferenceWorker ?? new URL("./inference-worker.ts", import.meta.url).href;
}

/** Request/reply channel to the inference thread. */
export class InferenceWorker {
  readonly #worker: Worker;
  readonly #pending = new Map<number, Pending>();
  #next = 1;
  #dead: Error | undefined;
  /** Settles when the thread has really ended (a run in native code finishes first). */
  readonly exited: Promise<void>;

  constructor() {
    this.#worker = new Worker(workerUrl());
    this.exited = new Promise((resolve) => this.#worker.addEventListener("close", () => resolve()));
    this.#worker.onmessage = (e: MessageEvent<WorkerReply | WorkerStarted>) => {
      const p = this.#pending.get(e.data.id);
      if ("started" in e.data) {
        p?.onStarted?.();
        return;
      }
      this.#pending.delete(e.data.id);
      p?.resolve(e.data);
    };
    this.#worker.onerror = (e) => this.#fail(new Error(`inference thread failed: ${e.message}`));
  }

  #fail(err: Error): void {
    this.#dead = err;
    for (const p of this.#pending.values()) p.reject(err);
    this.#pending.clear();
  }

  /** Sends a request; `onStarted` is called when a run leaves the thread's queue and starts. */
  request(req: Request, transfer: Transferable[] = [], onStarted?: () => void): Promise<WorkerReply> {
    if (this.#dead) return Promise.reject(this.#dead);
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, onStarted });
      this.#worker.postMessage({ ...req, id }, transfer);
    });
  }

  terminate(): void {
    this.#fail(new Error("inference thread stopped"));
    this.#worker.terminate();
  }

  /**
   * Gives the thread up: requests waiting on it fail now, and it ends by itself once the run
   * under way returns (`exited`). Terminating it during a run would abort the whole process
   * when onnxruntime completes that run.
   */
  retire(): void {
    if (this.#dead) return;
    this.#fail(new Error("inference thread stopped"));
    this.#worker.postMessage({ op: "retire", id: 0 });
  }
}

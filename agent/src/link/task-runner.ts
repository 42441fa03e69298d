import { AgentError } from "../errors.ts";

interface Job {
  id: string;
  run: (signal: AbortSignal) => Promise<void>;
  controller: AbortController;
}

/**
 * Runs jobs at most `concurrency` at a time, first come first served. Each job gets an
 * AbortSignal that `cancel` fires, whether it is still queued or already running.
 */
export class TaskRunner {
  readonly concurrency: number;
  readonly #queue: Job[] = [];
  readonly #running = new Map<string, Job>();
  readonly #idle: (() => void)[] = [];

  constructor(concurrency: number) {
    this.concurrency = Math.max(1, concurrency);
  }

  get running(): number {
    return this.#running.size;
  }

  get queued(): number {
    return this.#queue.length;
  }

  has(id: string): boolean {
    return this.#running.has(id) || this.#queue.some((j) => j.id === id);
  }

  /** Queues a job; `run` must handle its own errors (a throw is swallowed). */
  submit(id: string, run: (signal: AbortSignal) => Promise<void>): void {
    if (this.has(id)) throw new AgentError("CONFLICT", `task ${id} is already queued or running`);
    this.#queue.push({ id, run, controller: new AbortController() });
    this.#pump();
  }

  /** Aborts a queued or running job; returns false when no such job exists. */
  cancel(id: string, reason = "cancelled"): boolean {
    const job = this.#running.get(id) ?? this.#queue.find((j) => j.id === id);
    if (!job) return false;
    job.controller.abort(new AgentError("CANCELLED", reason));
    return true;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#running.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #pump(): void {
    while (this.#running.size < this.concurrency && this.#queue.length > 0) {
      const job = this.#queue.shift() as Job;
      this.#running.set(job.id, job);
      void job
        .run(job.controller.signal)
        .catch(() => {})
        .finally(() => {
          this.#running.delete(job.id);
          this.#pump();
          if (this.#running.size === 0 && this.#queue.length === 0) for (const r of this.#idle.splice(0)) r();
        });
    }
  }
}

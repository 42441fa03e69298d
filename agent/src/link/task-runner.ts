import { AgentError } from "../errors.ts";

/** The longest delay a timer takes. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Job {
  id: string;
  run: (signal: AbortSignal) => Promise<void>;
  controller: AbortController;
  /** Unix ms after which the job is aborted with `DEADLINE_EXCEEDED`. */
  abortAt: number;
}

export interface SubmitOptions {
  /** Unix ms after which the job's signal is aborted with a `DEADLINE_EXCEEDED` error. */
  abortAt?: number;
}

/**
 * Runs jobs at most `concurrency` at a time, first come first served. Each job gets an
 * AbortSignal that `cancel` fires, whether it is still queued or already running, and
 * that fires by itself once the job's `abortAt` has passed (one timer for every job).
 */
export class TaskRunner {
  readonly concurrency: number;
  readonly #queue: Job[] = [];
  #head = 0;
  readonly #running = new Map<string, Job>();
  readonly #all = new Map<string, Job>();
  readonly #idle: (() => void)[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Number.POSITIVE_INFINITY;

  constructor(concurrency: number) {
    this.concurrency = Math.max(1, concurrency);
  }

  get running(): number {
    return this.#running.size;
  }

  get queued(): number {
    return this.#queue.length - this.#head;
  }

  has(id: string): boolean {
    return this.#all.has(id);
  }

  /** Queues a job; `run` must handle its own errors (a throw is swallowed). */
  submit(id: string, run: (signal: AbortSignal) => Promise<void>, options: SubmitOptions = {}): void {
    if (this.#all.has(id)) throw new AgentError("CONFLICT", `task ${id} is already queued or running`);
    const job: Job = {
      id,
      run,
      controller: new AbortController(),
      abortAt: options.abortAt ?? Number.POSITIVE_INFINITY,
    };
    this.#all.set(id, job);
    this.#queue.push(job);
    if (job.abortAt < this.#timerAt) this.#arm(job.abortAt);
    this.#pump();
  }

  /** Aborts a queued or running job; returns false when no such job exists. */
  cancel(id: string, reason = "cancelled"): boolean {
    const job = this.#all.get(id);
    if (!job) return false;
    job.controller.abort(new AgentError("CANCELLED", reason));
    return true;
  }

  /** Aborts every queued and running job with `reason`; returns how many. */
  abortAll(reason: AgentError): number {
    let n = 0;
    for (const job of this.#all.values()) {
      if (job.controller.signal.aborted) continue;
      job.controller.abort(reason);
      n++;
    }
    return n;
  }

  /** Resolves when nothing is queued or running. */
  idle(): Promise<void> {
    if (this.#all.size === 0) return Promise.resolve();
    return new Promise((r) => this.#idle.push(r));
  }

  #pump(): void {
    while (this.#running.size < this.concurrency && this.#head < this.#queue.length) {
      const job = this.#queue[this.#head++] as Job;
      if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
        this.#queue.splice(0, this.#head);
        this.#head = 0;
      }
      this.#running.set(job.id, job);
      void job
        .run(job.controller.signal)
        .catch(() => {})
        .finally(() => this.#finish(job));
    }
  }

  #finish(job: Job): void {
    this.#running.delete(job.id);
    this.#all.delete(job.id);
    this.#pump();
    if (this.#all.size === 0) {
      this.#disarm();
      for (const r of this.#idle.splice(0)) r();
    }
  }

  #arm(at: number): void {
    this.#disarm();
    this.#timerAt = at;
    // Timers take at most 2^31 - 1 ms; a longer delay fires at once, over and over. A deadline
    // further off is reached by re-arming from #expire.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()));
    this.#timer = setTimeout(() => this.#expire(), delay);
    this.#timer.unref?.();
  }

  #disarm(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
  }

  /** Aborts every job past its time and arms the timer for the next one. */
  #expire(): void {
    this.#timer = undefined;
    this.#timerAt = Number.POSITIVE_INFINITY;
    const now = Date.now();
    let next = Number.POSITIVE_INFINITY;
    for (const job of this.#all.values()) {
      if (job.controller.signal.aborted) continue;
      if (job.abortAt <= now) {
        job.controller.abort(new AgentError("DEADLINE_EXCEEDED", `task ${job.id} ran past its deadline`));
      } else if (job.abortAt < next) next = job.abortAt;
    }
    if (next < Number.POSITIVE_INFINITY) this.#arm(next);
  }
}

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { hashTensors, type ModelDescriptor, type Tensor } from "@ncn/protocol";
import { ensurePrivateEmptyDir } from "@ncn/protocol/private-dir";
import { RuntimeError } from "../../errors.ts";
import { type Logger, silentLogger } from "../../log/logger.ts";
import { type GpuProbe, probeGpu } from "../../system/gpu.ts";
import { capProcessMemory, isOutOfMemory, type MemoryCap } from "../../system/memory-limit.ts";
import {
  chooseExecutionProvider,
  type ExecutionProviderChoice,
  type ExecutionProviderPreference,
} from "./execution-provider.ts";
import { assertSelfContained, modelOpTypes } from "./external-data.ts";
import { loadOrt, type Ort, type OrtSession } from "./ort.ts";
import { DATA_DEPENDENT_OPS } from "./output-limits.ts";
import { probeModelBytes } from "./probe-model.ts";
import { guardSessionOptions } from "./session-guard.ts";
import { SessionPool } from "./session-pool.ts";
import { sha256Hex } from "./sha256.ts";
import { checkInputs, checkOutputs } from "./signature.ts";
import { InferenceWorker } from "./worker-client.ts";
import type { WireTensor, WorkerReply } from "./worker-protocol.ts";

export type GraphOptimization = "disabled" | "basic" | "extended" | "all";

/** Session config entries that let the thread pools spin (onnxruntime's default). */
const SPINNING = { "session.intra_op.allow_spinning": "1", "session.inter_op.allow_spinning": "1" };

export interface OnnxRuntimeOptions {
  executionProvider?: ExecutionProviderPreference;
  /** Intra-op threads per session; 0 lets onnxruntime decide. */
  threads?: number;
  /**
   * Let onnxruntime's thread pools spin while waiting for work (its own default; a little
   * faster on a machine kept for one model). Off by default: see `NO_SPINNING`.
   */
  spinning?: boolean;
  graphOptimization?: GraphOptimization;
  /** Warm sessions kept in the pool. */
  poolSize?: number;
  log?: Logger;
  /** Overrides GPU detection (tests, doctor). */
  gpuProbe?: GpuProbe;
  /**
   * Run models that prove tiny on the calling thread (default true on CPU): a run of a few
   * microseconds costs less than the hop to the inference thread and back.
   */
  inlineTinyModels?: boolean;
  /**
   * The folder onnxruntime reads external initializers from: private to this user and kept
   * empty, so the external data a model names is never found. Default: a new temporary
   * folder, removed by `close`.
   */
  privateDir?: string;
  /**
   * Longest one run may take once it started (ms). A run past it is answered `MODEL_TIMEOUT`;
   * its inference thread is given up and a fresh one serves the next runs.
   */
  maxRunMs?: number;
  /** Largest outputs of one run, in all (bytes): more is answered `MODEL_LIMIT_EXCEEDED`. */
  maxOutputBytes?: number;
  /**
   * Memory a model run may take (bytes) beyond what the process holds when the runtime
   * starts. A run allocating more is answered `MODEL_LIMIT_EXCEEDED` and the next one is
   * served. The cap is the process's data-segment limit (see `system/memory-limit.ts`), set
   * once; on a GPU only with `capMemoryOnGpu` (GPU memory is not counted, and the driver's
   * own host mappings are). Default: no cap (the agent sets one from its config).
   */
  maxMemoryBytes?: number;
  /** Apply `maxMemoryBytes` on the CUDA provider too. */
  capMemoryOnGpu?: boolean;
  /**
   * Given-up threads still finishing a run (onnxruntime cannot be interrupted) allowed at once;
   * while that many are, runs are refused `UNAVAILABLE` so the CPU is not taken over.
   */
  maxAbandonedRuns?: number;
}

export const DEFAULT_MAX_RUN_MS = 60_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 256 * 1024 * 1024;
const DEFAULT_MAX_ABANDONED_RUNS = 2;

/** A run this short on the inference thread (ms) costs less than the thread hop around it. */
const FAST_RUN_MS = 0.25;
/** Runs with at most this many input bytes are hashed on the inference thread. */
const WORKER_HASH_MAX_BYTES = 64 * 1024;
/** Fast runs of a model on the inference thread before it also gets a calling-thread session. */
const FAST_RUNS_TO_INLINE = 16;

interface ModelSpeed {
  fastRuns: number;
  /** Largest total input size (bytes) seen running fast on the inference thread. */
  fastBytes: number;
  inline: Promise<OrtSession> | undefined;
  session: OrtSession | undefined;
}

/** Outputs of a run, with the inputs' and outputs' `hashTensors` when asked for. */
export interface Ran {
  outputs: Record<string, Tensor>;
  inputHash?: `0x${string}`;
  outputHash?: `0x${string}`;
}

function inputBytes(feeds: Record<string, Tensor>): number {
  let n = 0;
  for (const t of Object.values(feeds)) n += t.data.byteLength;
  return n;
}

type SessionOptions = import("onnxruntime-node").InferenceSession.SessionOptions;

/** Where a model's bytes come from when its session is not warm. */
export type ModelBytesLoader = () => Promise<Uint8Array>;

export interface RunOptions {
  /** Check the outputs against the descriptor too (default true). */
  checkOutputs?: boolean;
  /**
   * Called once the inputs are handed to the inference thread: work done here (hashing
   * the inputs, say) overlaps with the inference.
   */
  onSubmitted?: () => void;
}

/**
 * Generic tensor inference on onnxruntime: sessions kept warm in an LRU pool keyed by
 * model hash, inputs and outputs checked against the model descriptor, the execution
 * provider chosen once. Sessions live on an inference thread, so inference never
 * blocks the caller's event loop.
 *
 * @example
 * const rt = await OnnxRuntime.create({ executionProvider: "auto" });
 * const out = await rt.run(descriptor, () => Bun.file(path).bytes(), { x });
 */
export class OnnxRuntime {
  readonly choice: ExecutionProviderChoice;
  readonly threads: number;
  readonly #spinning: boolean;
  readonly graphOptimization: GraphOptimization;
  readonly #ort: Ort;
  readonly #pool: SessionPool<string>;
  #worker: InferenceWorker;
  readonly #maxRunMs: number;
  readonly #maxOutputBytes: number;
  /** The memory cap in force (set at creation), if any. */
  memoryCap: MemoryCap | undefined;
  readonly #maxAbandoned: number;
  /** Given-up inference threads whose run has not ended yet. */
  #abandoned = 0;
  readonly #log: Logger;
  readonly #inlineTiny: boolean;
  readonly #speed = new Map<string, ModelSpeed>();
  readonly #privateDir: { path: string; owned: boolean };

  private constructor(
    ort: Ort,
    choice: ExecutionProviderChoice,
    options: OnnxRuntimeOptions,
    privateDir: { path: string; owned: boolean },
  ) {
    this.#ort = ort;
    this.#privateDir = privateDir;
    this.choice = choice;
    this.threads = options.threads ?? 0;
    this.#spinning = options.spinning === true;
    this.graphOptimization = options.graphOptimization ?? "all";
    this.#log = (options.log ?? silentLogger).child({ component: "runtime:onnx" });
    this.#worker = new InferenceWorker();
    this.#maxRunMs = options.maxRunMs ?? DEFAULT_MAX_RUN_MS;
    this.#maxOutputBytes = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
    this.#maxAbandoned = options.maxAbandonedRuns ?? DEFAULT_MAX_ABANDONED_RUNS;
    this.#inlineTiny = (options.inlineTinyModels ?? true) && choice.provider === "cpu";
    this.#pool = new SessionPool<string>({
      capacity: options.poolSize ?? 8,
      close: async (key) => {
        await this.#worker.request({ op: "release", key }).catch(() => {});
        await this.#dropInline(key);
      },
    });
  }

  static async create(options: OnnxRuntimeOptions = {}): Promise<OnnxRuntime> {
    const ort = await loadOrt();
    const privateDir = options.privateDir
      ? { path: options.privateDir, owned: false }
      : { path: mkdtempSync(join(tmpdir(), "ncn-onnx-")), owned: true };
    try {
      ensurePrivateEmptyDir(privateDir.path);
      return await OnnxRuntime.#create(ort, options, privateDir);
    } catch (e) {
      if (privateDir.owned) rmSync(privateDir.path, { recursive: true, force: true });
      throw e;
    }
  }

  static async #create(
    ort: Ort,
    options: OnnxRuntimeOptions,
    privateDir: { path: string; owned: boolean },
  ): Promise<OnnxRuntime> {
    const preference = options.executionProvider ?? "auto";
    let choice = chooseExecutionProvider(preference, options.gpuProbe ?? probeGpu());
    if (choice.provider === "cuda") {
      // The library being present does not prove the driver and CUDA libraries load.
      const failure = await probeCuda(ort, privateDir.path);
      if (failure) {
        if (preference === "cuda") {
          throw new RuntimeError("UNAVAILABLE", `CUDA execution provider does not start: ${failure}`);
        }
        choice = {
          provider: "cpu",
          reason: `CPU (CUDA failed to start: ${failure})`,
          gpu: choice.gpu && { ...choice.gpu, cuda: false },
        };
      }
    }
    const rt = new OnnxRuntime(ort, choice, options, privateDir);
    if (options.maxMemoryBytes !== undefined) {
      if (choice.provider === "cpu" || options.capMemoryOnGpu) {
        rt.memoryCap = capProcessMemory(options.maxMemoryBytes);
        rt.#log.info("model memory capped", {
          modelMb: Math.round(rt.memoryCap.modelBytes / 2 ** 20),
          limitMb: Math.round(rt.memoryCap.limitBytes / 2 ** 20),
        });
      } else {
        rt.#log.warn("model memory not capped on the GPU (set it explicitly to cap it there)", {});
      }
    }
    rt.#log.info("execution provider chosen", {
      provider: choice.provider,
      reason: choice.reason,
      threads: rt.threads || "default",
      graphOptimization: rt.graphOptimization,
    });
    return rt;
  }

  /** A run or load whose allocation failed: past the memory cap (or the machine's memory). */
  #outOfMemory(model: { id: string }, error: string): RuntimeError {
    const cap = this.memoryCap;
    return new RuntimeError(
      "MODEL_LIMIT_EXCEEDED",
      `model ${model.id} is refused: it needs more memory than ${cap ? `the ${Math.round(cap.modelBytes / 2 ** 20)} MiB a run may take` : "is free"} (${error.split("\n")[0]?.slice(0, 200)})`,
      { details: { model: model.id, ...(cap ? { maxMemoryBytes: cap.modelBytes } : {}) } },
    );
  }

  get provider(): ExecutionProviderChoice["provider"] {
    return this.choice.provider;
  }

  get ort(): Ort {
    return this.#ort;
  }

  /** Hashes of the models whose sessions are warm. */
  warmModels(): string[] {
    return this.#pool.keys();
  }

  /** Hashes of the models small enough to run on the calling thread (see `inlineTinyModels`). */
  inlineModels(): string[] {
    return [...this.#speed].filter(([, s]) => s.session).map(([k]) => k);
  }

  /** The options of the sessions on the inference thread (guarded: see `openSession`). */
  sessionOptions(): SessionOptions {
    return guardSessionOptions(
      {
        executionProviders:
          this.choice.provider === "cuda" ? [{ name: "cuda", deviceId: 0 }, "cpu"] : ["cpu"],
        graphOptimizationLevel: this.graphOptimization,
        logSeverityLevel: 3,
        ...(this.threads > 0 ? { intraOpNumThreads: this.threads, interOpNumThreads: 1 } : {}),
        ...(this.#spinning ? { extra: SPINNING } : {}),
      },
      this.#privateDir.path,
    );
  }

  /**
   * Opens a session on the calling thread, the only way the runtime's users should: a
   * model that keeps tensor data outside itself is refused (`MODEL_REJECTED`) before
   * onnxruntime sees it, and the session reads external data only from the private folder.
   */
  async openSession(bytes: Uint8Array, modelId: string, options: SessionOptions = {}): Promise<OrtSession> {
    assertSelfContained(bytes, modelId);
    return await this.#ort.InferenceSession.create(
      bytes,
      guardSessionOptions(
        {
          logSeverityLevel: 3,
          ...options,
          ...(this.#spinning ? { extra: { ...SPINNING, ...(options.extra as object | undefined) } } : {}),
        },
        this.#privateDir.path,
      ),
    );
  }

  /**
   * Makes sure the model's session is warm on the inference thread. On a cold start the
   * bytes are loaded and their hash verified before a session is built from them.
   */
  #session<T>(
    model: Pick<ModelDescriptor, "id" | "sha256">,
    load: ModelBytesLoader,
    fn: (key: string) => Promise<T>,
  ): Promise<T> {
    return this.#pool.use(
      model.sha256,
      async () => {
        const bytes = await this.#verifiedBytes(model, load);
        const t0 = performance.now();
        const r = await this.#worker.request(
          {
            op: "load",
            key: model.sha256,
            bytes,
            options: this.sessionOptions() as Record<string, unknown>,
            maxOutputBytes: this.#maxOutputBytes,
          },
          [bytes.buffer as ArrayBuffer],
        );
        if (!r.ok && r.limit)
          throw new RuntimeError("MODEL_LIMIT_EXCEEDED", `model ${model.id} is refused: ${r.error}`, {
            details: { model: model.id, maxOutputBytes: this.#maxOutputBytes },
          });
        if (!r.ok && isOutOfMemory(r.error)) throw this.#outOfMemory(model, r.error);
        if (!r.ok)
          throw new RuntimeError("INFERENCE_FAILED", `model ${model.id} cannot be loaded: ${r.error}`);
        this.#log.debug("session created", { model: model.id, ms: Math.round(performance.now() - t0) });
        return model.sha256;
      },
      fn,
    );
  }

  /**
   * Runs the model on tensors already known to fit it and returns the named outputs;
   * the building block for pipelines that make their own inputs.
   */
  async infer(
    model: Pick<ModelDescriptor, "id" | "sha256">,
    load: ModelBytesLoader,
    feeds: Record<string, Tensor>,
    fetches: readonly string[],
    onSubmitted?: () => void,
  ): Promise<Record<string, Tensor>> {
    return (await this.#infer(model, load, feeds, fetches, { onSubmitted, hash: false })).outputs;
  }

  #infer(
    model: Pick<ModelDescriptor, "id" | "sha256">,
    load: ModelBytesLoader,
    feeds: Record<string, Tensor>,
    fetches: readonly string[],
    how: { onSubmitted: (() => void) | undefined; hash: boolean },
  ): Promise<Ran> {
    if (this.#abandoned >= this.#maxAbandoned) {
      throw new RuntimeError(
        "UNAVAILABLE",
        "runs stopped at the time limit still hold the CPU; try again later",
      );
    }
    return this.#session(model, load, async (key) => {
      const bytes = inputBytes(feeds);
      const speed = this.#speed.get(key);
      // A tiny model runs here: the run takes less than the two thread hops it saves, at one
      // task in flight (latency) and at many (measured: more tasks/s than queueing them on
      // the inference thread, whose hashing of small tensors then cannot make up the hops).
      if (speed?.session && bytes <= speed.fastBytes) {
        how.onSubmitted?.();
        const outputs = await runInline(speed.session, this.#ort, feeds, fetches);
        this.#checkOutputBytes(model, outputs);
        return how.hash
          ? { outputs, inputHash: hashTensors(feeds), outputHash: hashTensors(outputs) }
          : { outputs };
      }
      const wire: Record<string, WireTensor> = {};
      for (const [name, t] of Object.entries(feeds))
        wire[name] = { dtype: t.dtype, dims: t.dims, data: t.data };
      // Small inputs are hashed on the inference thread too (off this thread's hot path);
      // large ones here, while the inference thread runs, as before.
      const hashThere = how.hash && bytes <= WORKER_HASH_MAX_BYTES;
      let inputHash: `0x${string}` | undefined;
      const pending = this.#watched(model, (onStarted) =>
        this.#worker.request(
          {
            op: "run",
            key,
            feeds: wire,
            fetches: [...fetches],
            maxOutputBytes: this.#maxOutputBytes,
            ...(hashThere ? { hash: true } : {}),
          },
          [],
          onStarted,
        ),
      );
      how.onSubmitted?.();
      if (how.hash && !hashThere) inputHash = hashTensors(feeds);
      const r = await pending;
      if (!r.ok && r.limit)
        throw new RuntimeError("MODEL_LIMIT_EXCEEDED", `model ${model.id} is refused: ${r.error}`, {
          details: { model: model.id, maxOutputBytes: this.#maxOutputBytes },
        });
      if (!r.ok && isOutOfMemory(r.error)) throw this.#outOfMemory(model, r.error);
      if (!r.ok) throw new RuntimeError("INFERENCE_FAILED", `inference failed: ${r.error}`);
      if (r.ms !== undefined) this.#observe(model, load, bytes, r.ms);
      const outputs: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(r.outputs ?? {}))
        outputs[name] = { dtype: t.dtype, dims: t.dims, data: t.data };
      if (!how.hash) return { outputs };
      return {
        outputs,
        inputHash: r.inputHash ?? inputHash ?? hashTensors(feeds),
        outputHash: r.outputHash ?? hashTensors(outputs),
      };
    });
  }

  /**
   * A run on the inference thread under the time limit, counted from when it leaves the
   * thread's queue. Past it the run is answered `MODEL_TIMEOUT` and the thread given up:
   * onnxruntime cannot stop a run, so a fresh thread takes the next ones while the old one
   * ends when its run does (at most `maxAbandonedRuns` such threads at once).
   */
  #watched(
    model: Pick<ModelDescriptor, "id">,
    send: (onStarted: () => void) => Promise<WorkerReply>,
  ): Promise<WorkerReply> {
    const worker = this.#worker;
    return new Promise<WorkerReply>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      const onStarted = () => {
        timer = setTimeout(() => {
          this.#abandon(worker, model);
          reject(
            new RuntimeError("MODEL_TIMEOUT", `model ${model.id} ran past the ${this.#maxRunMs} ms limit`, {
              details: { model: model.id, maxRunMs: this.#maxRunMs },
            }),
          );
        }, this.#maxRunMs);
      };
      send(onStarted).then(
        (r) => {
          clearTimeout(timer);
          resolve(r);
        },
        (e: unknown) => {
          clearTimeout(timer);
          reject(e);
        },
      );
    });
  }

  /** Gives up an inference thread stuck in a run: a fresh one serves from now on. */
  #abandon(worker: InferenceWorker, model: Pick<ModelDescriptor, "id">): void {
    if (this.#worker !== worker) return;
    this.#worker = new InferenceWorker();
    this.#abandoned++;
    void worker.exited.then(() => {
      this.#abandoned--;
      this.#log.info("a run given up at the time limit has ended", { model: model.id });
    });
    // Other runs queued on that thread fail now; their sessions lived there. The thread
    // ends by itself once the run returns: ending it during the run would abort the agent.
    worker.retire();
    void this.#pool.clear();
    this.#log.warn("run stopped at the time limit; inference thread replaced", {
      model: model.id,
      maxRunMs: this.#maxRunMs,
      threadsStillRunning: this.#abandoned,
    });
  }

  /** Refuses outputs larger in all than the limit (runs on the calling thread check here). */
  #checkOutputBytes(model: Pick<ModelDescriptor, "id">, outputs: Record<string, Tensor>): void {
    let n = 0;
    for (const t of Object.values(outputs)) n += t.data.byteLength;
    if (n > this.#maxOutputBytes)
      throw new RuntimeError(
        "MODEL_LIMIT_EXCEEDED",
        `model ${model.id} is refused: its outputs are ${n} bytes, over the ${this.#maxOutputBytes} limit`,
        { details: { model: model.id, maxOutputBytes: this.#maxOutputBytes } },
      );
  }

  /**
   * Learns how long a model's runs take on the inference thread. Once it has run fast
   * often enough it gets a single-threaded session on the calling thread, used from then on
   * for inputs no larger than the largest seen running fast.
   */
  #observe(model: Pick<ModelDescriptor, "id" | "sha256">, load: ModelBytesLoader, bytes: number, ms: number) {
    if (!this.#inlineTiny || ms >= FAST_RUN_MS) return;
    let speed = this.#speed.get(model.sha256);
    if (!speed) {
      speed = { fastRuns: 0, fastBytes: 0, inline: undefined, session: undefined };
      this.#speed.set(model.sha256, speed);
    }
    speed.fastRuns++;
    if (bytes > speed.fastBytes) speed.fastBytes = bytes;
    if (speed.inline || speed.fastRuns < FAST_RUNS_TO_INLINE) return;
    const s = speed;
    s.inline = (async () => {
      const bytes = await this.#verifiedBytes(model, load);
      // A run on the calling thread cannot be stopped: only models whose cost follows the
      // size of their inputs (no loops, no shapes taken from input values) run there.
      const dataDependent = [...modelOpTypes(bytes)].filter((op) => DATA_DEPENDENT_OPS.has(op));
      if (dataDependent.length > 0) throw new NotInlinable(`it uses ${dataDependent.join(", ")}`);
      return await this.openSession(bytes, model.id, {
        executionProviders: ["cpu"],
        graphOptimizationLevel: this.graphOptimization,
        intraOpNumThreads: 1,
        interOpNumThreads: 1,
      });
    })();
    s.inline.then(
      (session) => {
        // A model dropped meanwhile has its session released by #dropInline.
        if (this.#speed.get(model.sha256) !== s) return;
        s.session = session;
        this.#log.debug("model runs on the calling thread", { model: model.id, maxInputBytes: s.fastBytes });
      },
      (e: unknown) =>
        e instanceof NotInlinable
          ? this.#log.debug("model stays on the inference thread", { model: model.id, reason: e.message })
          : this.#log.warn("calling-thread session failed", { model: model.id, error: e }),
    );
  }

  async #dropInline(key: string): Promise<void> {
    const speed = this.#speed.get(key);
    this.#speed.delete(key);
    const session = await speed?.inline?.catch(() => undefined);
    await session?.release();
  }

  /**
   * The model's bytes, checked against its hash and refused (`MODEL_REJECTED`) when they keep
   * tensor data outside the model: before any session is built from them.
   */
  async #verifiedBytes(model: Pick<ModelDescriptor, "id" | "sha256">, load: ModelBytesLoader) {
    const bytes = await load();
    const actual = sha256Hex(bytes);
    if (actual !== model.sha256.toLowerCase()) {
      throw new RuntimeError("MODEL_HASH_MISMATCH", `model ${model.id} bytes do not match its sha256`, {
        details: { model: model.id, expected: model.sha256, actual },
      });
    }
    assertSelfContained(bytes, model.id);
    return bytes;
  }

  /**
   * Checks `inputs` against the descriptor, runs the model, checks and returns the
   * declared outputs as protocol tensors.
   */
  async run(
    descriptor: ModelDescriptor,
    load: ModelBytesLoader,
    inputs: Record<string, Tensor>,
    options: RunOptions = {},
  ): Promise<Record<string, Tensor>> {
    return (await this.#run(descriptor, load, inputs, options, false)).outputs;
  }

  /**
   * `run`, plus the protocol hashes a receipt commits to: `hashTensors` of the inputs and
   * of the outputs, computed on the inference thread when the run happens there.
   */
  async runHashed(
    descriptor: ModelDescriptor,
    load: ModelBytesLoader,
    inputs: Record<string, Tensor>,
    options: Omit<RunOptions, "onSubmitted"> = {},
  ): Promise<Required<Ran>> {
    const r = await this.#run(descriptor, load, inputs, options, true);
    if (r.inputHash === undefined || r.outputHash === undefined) throw new Error("hashes missing");
    return { outputs: r.outputs, inputHash: r.inputHash, outputHash: r.outputHash };
  }

  async #run(
    descriptor: ModelDescriptor,
    load: ModelBytesLoader,
    inputs: Record<string, Tensor>,
    options: RunOptions,
    hash: boolean,
  ): Promise<Ran> {
    checkInputs(descriptor, inputs);
    let fetches = descriptor.outputs.map((o) => o.name);
    if (fetches.length === 0) {
      // No declared outputs: take whatever the graph produces.
      fetches = await this.#outputNames(descriptor, load);
    }
    const ran = await this.#infer(descriptor, load, inputs, fetches, {
      onSubmitted: options.onSubmitted,
      hash,
    });
    if (options.checkOutputs !== false && descriptor.outputs.length > 0)
      checkOutputs(descriptor, ran.outputs);
    return ran;
  }

  readonly #outputNamesCache = new Map<string, string[]>();

  async #outputNames(
    model: Pick<ModelDescriptor, "id" | "sha256">,
    load: ModelBytesLoader,
  ): Promise<string[]> {
    let names = this.#outputNamesCache.get(model.sha256);
    if (!names) {
      const s = await this.#ort.InferenceSession.create(
        await this.#verifiedBytes(model, load),
        guardSessionOptions({ logSeverityLevel: 3 }, this.#privateDir.path),
      );
      names = [...s.outputNames];
      await s.release();
      this.#outputNamesCache.set(model.sha256, names);
    }
    return names;
  }

  /** Releases every session and stops the inference thread. */
  async close(): Promise<void> {
    await this.#pool.clear();
    for (const key of [...this.#speed.keys()]) await this.#dropInline(key);
    this.#worker.terminate();
    if (this.#privateDir.owned) rmSync(this.#privateDir.path, { recursive: true, force: true });
  }
}

/** A model that must not run where no watchdog can stop it. */
class NotInlinable extends Error {
  override name = "NotInlinable";
}

/** Runs a session on this thread and returns the fetched outputs as protocol tensors. */
async function runInline(
  session: OrtSession,
  ort: Ort,
  feeds: Record<string, Tensor>,
  fetches: readonly string[],
): Promise<Record<string, Tensor>> {
  const input: Record<string, import("onnxruntime-node").Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) input[name] = new ort.Tensor(t.dtype, t.data, t.dims);
  let out: Awaited<ReturnType<OrtSession["run"]>>;
  try {
    out = await session.run(input, [...fetches]);
  } catch (e) {
    const message = (e as Error).message ?? String(e);
    if (isOutOfMemory(message))
      throw new RuntimeError(
        "MODEL_LIMIT_EXCEEDED",
        `the model needs more memory than a run may take: ${message}`,
      );
    throw new RuntimeError("INFERENCE_FAILED", `inference failed: ${message}`);
  }
  const result: Record<string, Tensor> = {};
  for (const name of fetches) {
    const t = out[name];
    if (!t) throw new RuntimeError("INFERENCE_FAILED", `inference failed: output "${name}" missing`);
    if (typeof t.data === "string" || Array.isArray(t.data) || !ArrayBuffer.isView(t.data)) {
      throw new RuntimeError("INFERENCE_FAILED", `output "${name}" is not a numeric tensor (${t.type})`);
    }
    result[name] = { dtype: t.type as Tensor["dtype"], dims: [...t.dims], data: t.data as Tensor["data"] };
  }
  return result;
}

async function probeCuda(ort: Ort, privateDir: string): Promise<string | null> {
  try {
    const s = await ort.InferenceSession.create(
      probeModelBytes(),
      guardSessionOptions(
        { executionProviders: [{ name: "cuda", deviceId: 0 }], logSeverityLevel: 3 },
        privateDir,
      ),
    );
    await s.release();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

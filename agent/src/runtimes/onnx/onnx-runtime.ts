import type { ModelDescriptor, Tensor } from "@ncn/protocol";
import { AgentError } from "../../errors.ts";
import { type Logger, silentLogger } from "../../log/logger.ts";
import { type GpuProbe, probeGpu } from "../../system/gpu.ts";
import {
  chooseExecutionProvider,
  type ExecutionProviderChoice,
  type ExecutionProviderPreference,
} from "./execution-provider.ts";
import { loadOrt, type Ort } from "./ort.ts";
import { probeModelBytes } from "./probe-model.ts";
import { SessionPool } from "./session-pool.ts";
import { sha256Hex } from "./sha256.ts";
import { checkInputs, checkOutputs } from "./signature.ts";
import { InferenceWorker } from "./worker-client.ts";
import type { WireTensor } from "./worker-protocol.ts";

export type GraphOptimization = "disabled" | "basic" | "extended" | "all";

export interface OnnxRuntimeOptions {
  executionProvider?: ExecutionProviderPreference;
  /** Intra-op threads per session; 0 lets onnxruntime decide. */
  threads?: number;
  graphOptimization?: GraphOptimization;
  /** Warm sessions kept in the pool. */
  poolSize?: number;
  log?: Logger;
  /** Overrides GPU detection (tests, doctor). */
  gpuProbe?: GpuProbe;
}

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
  readonly graphOptimization: GraphOptimization;
  readonly #ort: Ort;
  readonly #pool: SessionPool<string>;
  readonly #worker: InferenceWorker;
  readonly #log: Logger;

  private constructor(ort: Ort, choice: ExecutionProviderChoice, options: OnnxRuntimeOptions) {
    this.#ort = ort;
    this.choice = choice;
    this.threads = options.threads ?? 0;
    this.graphOptimization = options.graphOptimization ?? "all";
    this.#log = (options.log ?? silentLogger).child({ component: "agent:onnx" });
    this.#worker = new InferenceWorker();
    this.#pool = new SessionPool<string>({
      capacity: options.poolSize ?? 8,
      close: async (key) => {
        await this.#worker.request({ op: "release", key }).catch(() => {});
      },
    });
  }

  static async create(options: OnnxRuntimeOptions = {}): Promise<OnnxRuntime> {
    const ort = await loadOrt();
    const preference = options.executionProvider ?? "auto";
    let choice = chooseExecutionProvider(preference, options.gpuProbe ?? probeGpu());
    if (choice.provider === "cuda") {
      // The library being present does not prove the driver and CUDA libraries load.
      const failure = await probeCuda(ort);
      if (failure) {
        if (preference === "cuda") {
          throw new AgentError("UNAVAILABLE", `CUDA execution provider does not start: ${failure}`);
        }
        choice = {
          provider: "cpu",
          reason: `CPU (CUDA failed to start: ${failure})`,
          gpu: choice.gpu && { ...choice.gpu, cuda: false },
        };
      }
    }
    const rt = new OnnxRuntime(ort, choice, options);
    rt.#log.info("execution provider chosen", {
      provider: choice.provider,
      reason: choice.reason,
      threads: rt.threads || "default",
      graphOptimization: rt.graphOptimization,
    });
    return rt;
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

  sessionOptions(): import("onnxruntime-node").InferenceSession.SessionOptions {
    return {
      executionProviders: this.choice.provider === "cuda" ? [{ name: "cuda", deviceId: 0 }, "cpu"] : ["cpu"],
      graphOptimizationLevel: this.graphOptimization,
      logSeverityLevel: 3,
      ...(this.threads > 0 ? { intraOpNumThreads: this.threads, interOpNumThreads: 1 } : {}),
    };
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
        const bytes = await load();
        const actual = sha256Hex(bytes);
        if (actual !== model.sha256.toLowerCase()) {
          throw new AgentError("MODEL_HASH_MISMATCH", `model ${model.id} bytes do not match its sha256`, {
            details: { model: model.id, expected: model.sha256, actual },
          });
        }
        const t0 = performance.now();
        const r = await this.#worker.request(
          { op: "load", key: model.sha256, bytes, options: this.sessionOptions() as Record<string, unknown> },
          [bytes.buffer as ArrayBuffer],
        );
        if (!r.ok) throw new AgentError("INFERENCE_FAILED", `model ${model.id} cannot be loaded: ${r.error}`);
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
    return this.#session(model, load, async (key) => {
      const wire: Record<string, WireTensor> = {};
      for (const [name, t] of Object.entries(feeds))
        wire[name] = { dtype: t.dtype, dims: t.dims, data: t.data };
      const pending = this.#worker.request({ op: "run", key, feeds: wire, fetches: [...fetches] });
      onSubmitted?.();
      const r = await pending;
      if (!r.ok) throw new AgentError("INFERENCE_FAILED", `inference failed: ${r.error}`);
      const out: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(r.outputs ?? {}))
        out[name] = { dtype: t.dtype, dims: t.dims, data: t.data };
      return out;
    });
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
    checkInputs(descriptor, inputs);
    let fetches = descriptor.outputs.map((o) => o.name);
    if (fetches.length === 0) {
      // No declared outputs: take whatever the graph produces.
      fetches = await this.#outputNames(descriptor, load);
    }
    const outputs = await this.infer(descriptor, load, inputs, fetches, options.onSubmitted);
    if (options.checkOutputs !== false && descriptor.outputs.length > 0) checkOutputs(descriptor, outputs);
    return outputs;
  }

  readonly #outputNamesCache = new Map<string, string[]>();

  async #outputNames(model: Pick<ModelDescriptor, "sha256">, load: ModelBytesLoader): Promise<string[]> {
    let names = this.#outputNamesCache.get(model.sha256);
    if (!names) {
      const s = await this.#ort.InferenceSession.create(await load(), { logSeverityLevel: 3 });
      names = [...s.outputNames];
      await s.release();
      this.#outputNamesCache.set(model.sha256, names);
    }
    return names;
  }

  /** Releases every session and stops the inference thread. */
  async close(): Promise<void> {
    await this.#pool.clear();
    this.#worker.terminate();
  }
}

async function probeCuda(ort: Ort): Promise<string | null> {
  try {
    const s = await ort.InferenceSession.create(probeModelBytes(), {
      executionProviders: [{ name: "cuda", deviceId: 0 }],
      logSeverityLevel: 3,
    });
    await s.release();
    return null;
  } catch (e) {
    return (e as Error).message;
  }
}

import type { ModelDescriptor, Tensor } from "@ncn/protocol";
import { AgentError } from "../../errors.ts";
import { type Logger, silentLogger } from "../../log/logger.ts";
import { type GpuProbe, probeGpu } from "../../system/gpu.ts";
import { fromOrtTensor, toOrtTensor } from "./convert.ts";
import {
  chooseExecutionProvider,
  type ExecutionProviderChoice,
  type ExecutionProviderPreference,
} from "./execution-provider.ts";
import { loadOrt, type Ort, type OrtSession, type OrtTensor } from "./ort.ts";
import { probeModelBytes } from "./probe-model.ts";
import { SessionPool } from "./session-pool.ts";
import { sha256Hex } from "./sha256.ts";
import { checkInputs, checkOutputs } from "./signature.ts";

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
}

/**
 * Generic tensor inference on onnxruntime: sessions kept warm in an LRU pool keyed by
 * model hash, inputs and outputs checked against the model descriptor, the execution
 * provider chosen once.
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
  readonly #pool: SessionPool<OrtSession>;
  readonly #log: Logger;

  private constructor(ort: Ort, choice: ExecutionProviderChoice, options: OnnxRuntimeOptions) {
    this.#ort = ort;
    this.choice = choice;
    this.threads = options.threads ?? 0;
    this.graphOptimization = options.graphOptimization ?? "all";
    this.#log = (options.log ?? silentLogger).child({ component: "agent:onnx" });
    this.#pool = new SessionPool<OrtSession>({
      capacity: options.poolSize ?? 8,
      close: (s) => s.release(),
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
   * Runs `fn` with a warm session for the model `sha256`. On a cold start the bytes are
   * loaded and their hash verified before a session is built from them.
   */
  withSession<T>(
    model: Pick<ModelDescriptor, "id" | "sha256">,
    load: ModelBytesLoader,
    fn: (session: OrtSession) => Promise<T>,
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
        try {
          const session = await this.#ort.InferenceSession.create(bytes, this.sessionOptions());
          this.#log.debug("session created", { model: model.id, ms: Math.round(performance.now() - t0) });
          return session;
        } catch (e) {
          throw new AgentError(
            "INFERENCE_FAILED",
            `model ${model.id} cannot be loaded: ${(e as Error).message}`,
            {
              cause: e,
            },
          );
        }
      },
      fn,
    );
  }

  /** Runs a session on raw onnxruntime tensors and returns the requested outputs. */
  async runSession(
    session: OrtSession,
    feeds: Record<string, OrtTensor>,
    fetches: readonly string[],
  ): Promise<Record<string, OrtTensor>> {
    try {
      const out = await session.run(feeds, [...fetches]);
      const picked: Record<string, OrtTensor> = {};
      for (const name of fetches) {
        const v = out[name];
        if (!v) throw new Error(`output "${name}" missing`);
        picked[name] = v as OrtTensor;
      }
      return picked;
    } catch (e) {
      throw new AgentError("INFERENCE_FAILED", `inference failed: ${(e as Error).message}`, { cause: e });
    }
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
    return this.withSession(descriptor, load, async (session) => {
      const feeds: Record<string, OrtTensor> = {};
      for (const [name, t] of Object.entries(inputs)) feeds[name] = toOrtTensor(this.#ort, t);
      const fetches =
        descriptor.outputs.length > 0 ? descriptor.outputs.map((o) => o.name) : [...session.outputNames];
      const raw = await this.runSession(session, feeds, fetches);
      const outputs: Record<string, Tensor> = {};
      for (const [name, t] of Object.entries(raw)) outputs[name] = fromOrtTensor(name, t);
      if (options.checkOutputs !== false && descriptor.outputs.length > 0) checkOutputs(descriptor, outputs);
      return outputs;
    });
  }

  async close(): Promise<void> {
    await this.#pool.clear();
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

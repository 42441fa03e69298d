import { isAbsolute } from "node:path";
import type { ModelDescriptor, Tensor } from "@ncn/protocol";
import type { RuntimeContext, SourcePolicy } from "@ncn/runtime";
import { MODEL_CACHE_BYTES, MODEL_CACHE_TTL_MS } from "../constants.ts";
import { ConfigError } from "../errors.ts";
import type { Reexecutor } from "./reexecutor.ts";

/** Every task kind a validator checks, and `close` to free the sessions. */
export interface OnnxReexecutor extends Required<Reexecutor> {
  close(): Promise<void>;
}

/**
 * Re-executes models with the compute agent's own code: its content-addressed model store
 * (fetch by source, sha256 check), its onnxruntime session pool, its task executor (the
 * OCR pipeline), its embedding runtime and its language model runtime's teacher-forcing
 * check, so a validator runs a model exactly the way agents do. Loaded on first
 * use: nodes that never spot-check do not load onnxruntime. Model sources are fetched
 * under the agent's source policy, strict unless `sources` says otherwise (tests serving
 * models from a local folder). Every folder it is given must be absolute: a model file is
 * never looked up relative to the working directory.
 *
 * @example const rx = lazyOnnxReexecutor(join(dataDir, "models")); await rx.run(model, inputs);
 */
export function lazyOnnxReexecutor(
  cacheDir: string,
  sources?: SourcePolicy,
  /** Memory one re-run may take (bytes; the process's cap, set on first use): 3/4 of the machine's. */
  maxModelMemoryBytes?: number,
): OnnxReexecutor {
  const relative = [cacheDir, ...(sources?.localDirs ?? [])].filter((d) => !isAbsolute(d));
  if (relative.length > 0)
    throw new ConfigError(relative.map((d) => `re-executor folder ${d} must be an absolute path`));
  let ready: Promise<OnnxReexecutor> | undefined;
  const load = () => {
    ready ??= (async () => {
      const [
        { ModelStore, TaskExecutor, TextEmbeddingRuntime },
        { OnnxRuntime, defaultModelMemoryBytes },
        { CausalLmRuntime },
        { SpeechToTextRuntime },
      ] = await Promise.all([
        import("@ncn/runtime"),
        import("@ncn/runtime/onnx"),
        import("@ncn/runtime/causal-lm"),
        import("@ncn/runtime/speech-to-text"),
      ]);
      const store = await ModelStore.open({
        dir: cacheDir,
        maxBytes: MODEL_CACHE_BYTES,
        ttlMs: MODEL_CACHE_TTL_MS,
        ...(sources ? { sources } : {}),
      });
      // A model whose run allocates without bound fails MODEL_LIMIT_EXCEEDED here as on the agent.
      const runtime = await OnnxRuntime.create({
        executionProvider: "auto",
        poolSize: 4,
        maxMemoryBytes: maxModelMemoryBytes ?? defaultModelMemoryBytes(),
      });
      // One page at a time: spot checks share the validator's CPU with validation itself.
      const executor = new TaskExecutor({ store, runtime, ocrConcurrency: 1 });
      const loadModel = (m: ModelDescriptor) => store.load(m);
      const lm = new CausalLmRuntime({ onnx: runtime, loadModel });
      const embedder = new TextEmbeddingRuntime({ onnx: runtime, loadModel });
      const speech = new SpeechToTextRuntime({ onnx: runtime, loadModel });
      // What the executor gives a runtime for one task: models fetched stay pinned until it ends.
      const withModels = async <T>(check: (context: RuntimeContext) => Promise<T>): Promise<T> => {
        const unpins: (() => void)[] = [];
        try {
          return await check({
            fetchModel: async (m) => {
              unpins.push(store.pin(m.sha256));
              await store.ensure(m);
            },
          });
        } finally {
          for (const unpin of unpins) unpin();
        }
      };
      return {
        run: (model: ModelDescriptor, inputs: Record<string, Tensor>) =>
          runtime.run(model, () => store.load(model), inputs),
        async ocr(model: ModelDescriptor, pipeline: readonly ModelDescriptor[], image: string) {
          const outcome = await executor.execute({ kind: "ocr", model, image, pipeline: [...pipeline] });
          if (outcome.result.kind !== "ocr") throw new Error("the OCR pipeline returned no lines");
          return outcome.result.lines;
        },
        verifyGeneration: (model, asked, result, tolerance) =>
          withModels((context) =>
            lm.verify(
              { kind: "generate", model, prompt: asked.prompt, sampling: asked.sampling },
              result,
              context,
              tolerance,
            ),
          ),
        countPromptTokens: (model, prompt) =>
          withModels(async (context) => {
            await context.fetchModel(model);
            return (await lm.loadModel(model, context)).tokenizer.encodePrompt(prompt).length;
          }),
        verifyTranscript: (model, asked, result, greedyMargin) =>
          withModels((context) =>
            speech.verify({ kind: "transcribe", model, ...asked }, result, context, greedyMargin),
          ),
        embed: (model, pipeline, texts) =>
          withModels(async (context) => {
            const { vectors, dims, tokens } = await embedder.embed(model, pipeline, texts, context);
            return { vectors, dims, tokens };
          }),
        close: () => runtime.close(),
      };
    })();
    return ready;
  };
  return {
    run: async (model, inputs) => (await load()).run(model, inputs),
    ocr: async (model, pipeline, image) => (await load()).ocr(model, pipeline, image),
    verifyGeneration: async (model, asked, result, tolerance) =>
      (await load()).verifyGeneration(model, asked, result, tolerance),
    countPromptTokens: async (model, prompt) => (await load()).countPromptTokens(model, prompt),
    embed: async (model, pipeline, texts) => (await load()).embed(model, pipeline, texts),
    verifyTranscript: async (model, asked, result, greedyMargin) =>
      (await load()).verifyTranscript(model, asked, result, greedyMargin),
    close: async () => {
      if (ready) await (await ready).close();
    },
  };
}

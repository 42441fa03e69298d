import {
  type GenerateResult,
  hashGenerateInput,
  hashGenerateResult,
  type ModelDescriptor,
} from "@ncn/protocol";
import {
  type Runtime,
  type RuntimeContext,
  type RuntimeRun,
  servedTask,
  type TaskWork,
  throwIfCancelled,
} from "../../runtime.ts";
import { Slots } from "../../system/slots.ts";
import type { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { CAUSAL_LM_BUILTIN_MODELS } from "./builtin-models.ts";
import { Decoder } from "./decoder.ts";
import { generate } from "./generate.ts";
import { LmTokenizer } from "./lm-tokenizer.ts";
import { type CausalLmManifest, parseCausalLmManifest, partsOfManifest } from "./manifest.ts";
import { type VerifyTolerance, type VerifyVerdict, verifyGeneration } from "./verify.ts";

/** A causal language model ready to run: its decoder session, tokenizer and manifest. */
export interface LoadedCausalLm {
  manifest: CausalLmManifest;
  decoder: Decoder;
  tokenizer: LmTokenizer;
}

export interface CausalLmRuntimeOptions {
  onnx: OnnxRuntime;
  /** Verified bytes of a model the task has fetched. */
  loadModel: (model: ModelDescriptor) => Promise<Uint8Array>;
  /** Models served without a download (default: the built-in language models). */
  builtin?: readonly ModelDescriptor[];
  /** Generations run at once (default 1: a decode step already uses every core). */
  concurrency?: number;
  /** Models kept loaded (default 2). */
  maxLoaded?: number;
}

/**
 * `generate` tasks on causal language models in the Hugging Face ONNX decoder layout: the
 * task's model is an `ncn-causal-lm/1` manifest naming the decoder, tokenizer and
 * tokenizer config by hash; the prompt (raw, or chat messages through the model's chat
 * template) is tokenized, then tokens are generated with the KV cache as the task's
 * sampling parameters say, streamed through `context.onToken`.
 *
 * @example
 * const lm = new CausalLmRuntime({ onnx, loadModel: (m) => store.load(m) });
 * const run = await lm.run({ kind: "generate", model: NCN_GPT, prompt: "And God said", sampling }, { fetchModel });
 */
export class CausalLmRuntime implements Runtime<"generate"> {
  readonly name = "causal-lm";
  readonly taskKind = "generate";
  readonly modelRuntime = "onnx";
  readonly #onnx: OnnxRuntime;
  readonly #load: CausalLmRuntimeOptions["loadModel"];
  readonly #builtin: readonly ModelDescriptor[];
  readonly #slots: Slots;
  readonly #maxLoaded: number;
  /** Loaded models by manifest hash, least recently used first. */
  readonly #loaded = new Map<string, Promise<LoadedCausalLm>>();

  constructor(options: CausalLmRuntimeOptions) {
    this.#onnx = options.onnx;
    this.#load = options.loadModel;
    this.#builtin = options.builtin ?? CAUSAL_LM_BUILTIN_MODELS;
    this.#slots = new Slots(options.concurrency ?? 1);
    this.#maxLoaded = Math.max(1, options.maxLoaded ?? 2);
  }

  /**
   * The model a manifest descriptor names, fetched and loaded (kept for the next tasks).
   * Validators use it with `verifyGeneration`.
   */
  async loadModel(
    model: ModelDescriptor,
    context: Pick<RuntimeContext, "fetchModel">,
  ): Promise<LoadedCausalLm> {
    const key = model.sha256.toLowerCase();
    let loaded = this.#loaded.get(key);
    if (loaded) {
      this.#loaded.delete(key);
    } else {
      loaded = this.#open(model, context);
      loaded.catch(() => this.#loaded.delete(key));
    }
    this.#loaded.set(key, loaded);
    while (this.#loaded.size > this.#maxLoaded) {
      const oldest = this.#loaded.keys().next().value;
      if (oldest === undefined) break;
      this.#loaded.delete(oldest);
    }
    return await loaded;
  }

  async #open(model: ModelDescriptor, context: Pick<RuntimeContext, "fetchModel">): Promise<LoadedCausalLm> {
    await context.fetchModel(model);
    const manifest = parseCausalLmManifest(model.id, await this.#load(model));
    const parts = partsOfManifest(model, manifest, this.#builtin);
    for (const part of [parts.tokenizer, parts.tokenizerConfig, parts.decoder])
      await context.fetchModel(part);
    const tokenizer = LmTokenizer.fromBytes(
      await this.#load(parts.tokenizer),
      await this.#load(parts.tokenizerConfig),
      manifest.endTokens ?? [],
    );
    const session = await this.#onnx.openSession(
      await this.#load(parts.decoder),
      parts.decoder.id,
      this.#onnx.sessionOptions(),
    );
    return { manifest, decoder: new Decoder(this.#onnx.ort, session, parts.decoder.id), tokenizer };
  }

  async run(work: TaskWork, context: RuntimeContext): Promise<RuntimeRun> {
    const task = servedTask(this, work);
    throwIfCancelled(context.signal);
    const t0 = performance.now();
    // Fetched on every task, loaded or not: the fetch pins the manifest for the task.
    await context.fetchModel(task.model);
    const lm = await this.loadModel(task.model, context);
    const load = performance.now() - t0;
    const promptIds = lm.tokenizer.encodePrompt(task.prompt);
    const release = await this.#slots.acquire();
    let generation: Awaited<ReturnType<typeof generate>>;
    try {
      generation = await generate(lm.decoder, lm.tokenizer, promptIds, {
        sampling: task.sampling,
        contextLength: lm.manifest.contextLength,
        ...(context.signal ? { signal: context.signal } : {}),
        ...(context.onToken ? { onToken: context.onToken } : {}),
      });
    } finally {
      release();
    }
    const result = {
      kind: "generate" as const,
      text: generation.text,
      tokens: generation.tokens,
      prompt_tokens: promptIds.length,
      completion_tokens: generation.tokens.length,
      finish_reason: generation.finishReason,
    };
    return {
      result,
      inputHash: hashGenerateInput(task.prompt, task.sampling),
      outputHash: hashGenerateResult(result),
      timings: { load, ...generation.timings },
    };
  }

  /**
   * A validator's check of an agent's `generate` result for a task: the prompt's token
   * count, the text against the tokens, then every token by teacher forcing
   * (`verifyGeneration`). One forward pass, no sampling: see the README's "Verifying
   * generated tokens".
   *
   * @example const verdict = await lm.verify(task, result, { fetchModel });
   */
  async verify(
    work: TaskWork,
    result: GenerateResult,
    context: Pick<RuntimeContext, "fetchModel">,
    tolerance: Partial<VerifyTolerance> = {},
  ): Promise<VerifyVerdict> {
    const task = servedTask(this, work);
    const lm = await this.loadModel(task.model, context);
    const promptIds = lm.tokenizer.encodePrompt(task.prompt);
    if (promptIds.length !== result.prompt_tokens) {
      return { ok: false, position: -1, token: result.prompt_tokens, reason: "prompt_mismatch" };
    }
    const decoded = lm.tokenizer.decode(result.tokens);
    const textMatches =
      decoded === result.text ||
      (result.finish_reason === "stop" &&
        task.sampling.stop.some((s) => decoded.startsWith(result.text + s)));
    if (!textMatches) return { ok: false, position: -1, token: -1, reason: "text_mismatch" };
    const release = await this.#slots.acquire();
    try {
      return await verifyGeneration({
        decoder: lm.decoder,
        promptIds,
        tokens: result.tokens,
        sampling: task.sampling,
        contextLength: lm.manifest.contextLength,
        endTokenIds: lm.tokenizer.endTokenIds,
        tolerance,
      });
    } finally {
      release();
    }
  }
}

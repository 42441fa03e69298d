import {
  EMBED_LIMITS,
  type EmbedResult,
  EmbedTexts,
  encodeEmbedding,
  hashEmbedInput,
  hashEmbedResult,
  type ModelDescriptor,
  type Tensor,
} from "@ncn/protocol";
import * as v from "valibot";
import { RuntimeError } from "../../errors.ts";
import {
  type Runtime,
  type RuntimeContext,
  type RuntimeRun,
  servedTask,
  type TaskWork,
  throwIfCancelled,
} from "../../runtime.ts";
import type { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { TEXT_EMBEDDING_BUILTIN_MODELS } from "./builtin-models.ts";
import {
  MAX_TEXT_EMBEDDING_MANIFEST_BYTES,
  parseTextEmbeddingManifest,
  partsOfManifest,
  type TextEmbeddingManifest,
  type TextEmbeddingParts,
} from "./manifest.ts";
import { l2Normalize, meanPool } from "./pooling.ts";
import { loadTokenizer, type TextTokenizer } from "./tokenizer.ts";

export interface TextEmbeddingRuntimeOptions {
  onnx: OnnxRuntime;
  /** Verified bytes of a model the task has fetched. */
  loadModel: (model: ModelDescriptor) => Promise<Uint8Array>;
  /** Models served without a download (default: the built-in embedding models). */
  builtin?: readonly ModelDescriptor[];
  /** Tokenizers kept parsed, by sha256 (default 8). */
  tokenizerCacheSize?: number;
}

/** What an embedding model computed for some texts. */
export interface Embedded {
  vectors: Float32Array[];
  /** Vector width, from the manifest. */
  dims: number;
  /** Tokens per text, special tokens included. */
  tokens: number[];
  /** Milliseconds per stage. */
  timings: { tokenize: number; infer: number; pool: number };
}

/**
 * `embed` tasks: texts in, one vector per text out, computed by a text-embedding model —
 * an `ncn-text-embedding/1` manifest naming a Hugging Face-layout encoder
 * (`input_ids`, `attention_mask`[, `token_type_ids`] -> `last_hidden_state`[,
 * `sentence_embedding`]) and its `tokenizer.json`. Texts are tokenized, run in batches of
 * the manifest's size (sorted by length, so little is padded), mean-pooled over the
 * attention mask (or read from `sentence_embedding`) and L2-normalised.
 *
 * @example
 * const run = await new TextEmbeddingRuntime({ onnx, loadModel })
 *   .run({ kind: "embed", ...ncnGloveTask(), texts: ["a cat", "a kitten"] }, { fetchModel });
 */
export class TextEmbeddingRuntime implements Runtime<"embed"> {
  readonly name = "text-embedding";
  readonly taskKind = "embed";
  readonly modelRuntime = "onnx";
  readonly #onnx: OnnxRuntime;
  readonly #load: TextEmbeddingRuntimeOptions["loadModel"];
  readonly #builtin: readonly ModelDescriptor[];
  readonly #tokenizers = new Map<string, TextTokenizer>();
  readonly #tokenizerCacheSize: number;

  constructor(options: TextEmbeddingRuntimeOptions) {
    this.#onnx = options.onnx;
    this.#load = options.loadModel;
    this.#builtin = options.builtin ?? TEXT_EMBEDDING_BUILTIN_MODELS;
    this.#tokenizerCacheSize = options.tokenizerCacheSize ?? 8;
  }

  async run(work: TaskWork, context: RuntimeContext): Promise<RuntimeRun> {
    const task = servedTask(this, work);
    const embedded = await this.embed(task.model, task.pipeline, task.texts, context);
    const result: EmbedResult = {
      kind: "embed",
      dims: embedded.dims,
      embeddings: embedded.vectors.map(encodeEmbedding),
      promptTokens: embedded.tokens.reduce((a, b) => a + b, 0),
    };
    return {
      result,
      inputHash: hashEmbedInput(task.texts),
      outputHash: hashEmbedResult(result),
      timings: { ...embedded.timings },
    };
  }

  /**
   * The vectors of `texts` under `model` (a manifest whose parts are in `pipeline` or
   * built in); what `run` returns before encoding, and what a validator recomputes.
   * `INVALID_INPUT` for no texts, an empty or too long text, or one without tokens.
   */
  async embed(
    model: ModelDescriptor,
    pipeline: readonly ModelDescriptor[],
    texts: readonly string[],
    context: RuntimeContext,
  ): Promise<Embedded> {
    checkTexts(texts);
    await context.fetchModel(model);
    if (model.size > MAX_TEXT_EMBEDDING_MANIFEST_BYTES) {
      throw new RuntimeError("INVALID_INPUT", `model ${model.id} is not a text-embedding manifest`, {
        details: { model: model.id },
      });
    }
    const manifest = parseTextEmbeddingManifest(model.id, await this.#load(model));
    const parts = partsOfManifest(model.id, manifest, pipeline, this.#builtin);
    await context.fetchModel(parts.tokenizer);
    await context.fetchModel(parts.encoder);
    throwIfCancelled(context.signal);

    const t0 = performance.now();
    const tokenizer = await this.#tokenizer(parts.tokenizer);
    const ids = texts.map((text, index) => {
      const tokens = tokenizer.encode(text);
      if (tokens.length === 0) {
        throw new RuntimeError("INVALID_INPUT", `text ${index} has no tokens to embed`, {
          details: { index },
        });
      }
      if (tokens.length > manifest.maxTokens) {
        throw new RuntimeError(
          "INVALID_INPUT",
          `text ${index} has ${tokens.length} tokens; ${model.id} reads at most ${manifest.maxTokens}`,
          { details: { index, tokens: tokens.length, maxTokens: manifest.maxTokens } },
        );
      }
      return tokens;
    });
    const tokenize = performance.now() - t0;

    // Shortest first, so that each batch pads to about its own length.
    const order = ids.map((_, i) => i).sort((a, b) => (ids[a]?.length ?? 0) - (ids[b]?.length ?? 0));
    const vectors: Float32Array[] = new Array(texts.length);
    let infer = 0;
    let pool = 0;
    for (let start = 0; start < order.length; start += manifest.batchSize) {
      throwIfCancelled(context.signal);
      context.onProgress?.("embed", start / order.length);
      const batch = order.slice(start, start + manifest.batchSize);
      const rows = batch.map((i) => ids[i] ?? []);
      const t1 = performance.now();
      const output = await this.#encode(parts, manifest, tokenizer.padId, rows);
      const t2 = performance.now();
      const pooled = poolOutput(parts.encoder, manifest, output, rows);
      for (const [k, i] of batch.entries()) {
        const vector = pooled[k];
        if (vector) vectors[i] = manifest.normalize ? l2Normalize(vector) : vector;
      }
      infer += t2 - t1;
      pool += performance.now() - t2;
    }
    return {
      vectors,
      dims: manifest.dims,
      tokens: ids.map((t) => t.length),
      timings: { tokenize, infer, pool },
    };
  }

  async #tokenizer(model: ModelDescriptor): Promise<TextTokenizer> {
    const cached = this.#tokenizers.get(model.sha256);
    if (cached) {
      this.#tokenizers.delete(model.sha256);
      this.#tokenizers.set(model.sha256, cached);
      return cached;
    }
    const tokenizer = loadTokenizer(model.id, await this.#load(model));
    this.#tokenizers.set(model.sha256, tokenizer);
    while (this.#tokenizers.size > this.#tokenizerCacheSize) {
      const oldest = this.#tokenizers.keys().next().value;
      if (oldest === undefined) break;
      this.#tokenizers.delete(oldest);
    }
    return tokenizer;
  }

  /** Runs the encoder on one batch of token rows, padded to the longest. */
  async #encode(
    parts: TextEmbeddingParts,
    manifest: TextEmbeddingManifest,
    padId: number,
    rows: readonly number[][],
  ): Promise<Tensor> {
    const sequence = Math.max(...rows.map((r) => r.length));
    const dims = [rows.length, sequence];
    const inputIds = new BigInt64Array(rows.length * sequence).fill(BigInt(padId));
    const mask = new BigInt64Array(rows.length * sequence);
    for (const [b, row] of rows.entries()) {
      for (const [t, id] of row.entries()) {
        inputIds[b * sequence + t] = BigInt(id);
        mask[b * sequence + t] = 1n;
      }
    }
    const feeds: Record<string, Tensor> = {
      input_ids: { dtype: "int64", dims, data: inputIds },
      attention_mask: { dtype: "int64", dims, data: mask },
    };
    // BERT-family exports (MiniLM among them) also take the segment of each token: one
    // segment here.
    if (parts.encoder.inputs.some((i) => i.name === "token_type_ids")) {
      feeds.token_type_ids = { dtype: "int64", dims, data: new BigInt64Array(rows.length * sequence) };
    }
    const outputs = await this.#onnx.infer(parts.encoder, () => this.#load(parts.encoder), feeds, [
      manifest.output,
    ]);
    const output = outputs[manifest.output];
    if (!output) {
      throw new RuntimeError("INFERENCE_FAILED", `encoder ${parts.encoder.id} gave no ${manifest.output}`, {
        details: { model: parts.encoder.id, output: manifest.output },
      });
    }
    return output;
  }
}

/** The texts a task may carry, as the protocol bounds them. */
function checkTexts(texts: readonly string[]): void {
  const parsed = v.safeParse(EmbedTexts, texts);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    throw new RuntimeError("INVALID_INPUT", issue?.message ?? "bad texts to embed", {
      details: { field: `texts${issue ? `.${v.getDotPath(issue) ?? ""}` : ""}`, limits: EMBED_LIMITS },
    });
  }
}

/** One vector per row from the encoder's output: pooled here, or as the graph pooled it. */
function poolOutput(
  encoder: ModelDescriptor,
  manifest: TextEmbeddingManifest,
  output: Tensor,
  rows: readonly number[][],
): Float32Array[] {
  const pooled = manifest.output === "sentence_embedding";
  const want = pooled ? [rows.length, manifest.dims] : [rows.length, output.dims[1] ?? 0, manifest.dims];
  if (!(output.data instanceof Float32Array) || output.dims.join(",") !== want.join(",")) {
    throw new RuntimeError(
      "INFERENCE_FAILED",
      `encoder ${encoder.id} gave ${output.dtype} [${output.dims}] for ${manifest.output}, not float32 [${want}]`,
      { details: { model: encoder.id, output: manifest.output, dims: output.dims } },
    );
  }
  const data = output.data;
  if (pooled) {
    return rows.map((_, b) => data.slice(b * manifest.dims, (b + 1) * manifest.dims));
  }
  return meanPool(
    data,
    rows.length,
    output.dims[1] ?? 0,
    manifest.dims,
    rows.map((r) => r.length),
  );
}

import { RuntimeError } from "../../errors.ts";
import type { Ort, OrtSession, OrtTensor } from "../onnx/ort.ts";

/** What a decoder graph takes and gives, read from its inputs (Hugging Face layout). */
export interface DecoderLayout {
  layers: number;
  kvHeads: number;
  headDim: number;
  kvType: "float32" | "float16";
  hasPositionIds: boolean;
  /** Merged decoders (`decoder_model_merged.onnx`) switch their cache branch on with it. */
  hasUseCacheBranch: boolean;
}

/** The key/value cache after a forward pass: one `present.{i}` pair per layer, fed back as `past_key_values.{i}`. */
export interface KvCache {
  length: number;
  tensors: Record<string, OrtTensor>;
}

/** Logits of every position a forward pass ran. */
export interface ForwardResult {
  /** Logits of position `i` of the tokens just fed (a view, valid until the next pass). */
  logitsAt(i: number): Float32Array;
  cache: KvCache;
}

const PAST = /^past_key_values\.(\d+)\.key$/;

/** Reads the decoder's layout from its input metadata, or `MODEL_REJECTED` saying what is missing. */
export function decoderLayout(session: OrtSession, modelId: string): DecoderLayout {
  const reject = (why: string) =>
    new RuntimeError("MODEL_REJECTED", `${modelId} is not a decoder with a KV cache: ${why}`, {
      details: { model: modelId },
    });
  for (const name of ["input_ids", "attention_mask"]) {
    if (!session.inputNames.includes(name)) throw reject(`no ${name} input`);
  }
  if (!session.outputNames.includes("logits")) throw reject("no logits output");
  const layers = session.inputNames.filter((n) => PAST.test(n)).length;
  if (layers === 0) throw reject("no past_key_values inputs");
  for (let i = 0; i < layers; i++) {
    for (const name of [`past_key_values.${i}.value`]) {
      if (!session.inputNames.includes(name)) throw reject(`no ${name} input`);
    }
    for (const name of [`present.${i}.key`, `present.${i}.value`]) {
      if (!session.outputNames.includes(name)) throw reject(`no ${name} output`);
    }
  }
  const past = session.inputMetadata.find((m) => m.name === "past_key_values.0.key");
  if (!past?.isTensor) throw reject("past_key_values.0.key is not a tensor");
  const [, kvHeads, , headDim] = past.shape;
  if (past.shape.length !== 4 || typeof kvHeads !== "number" || typeof headDim !== "number") {
    throw reject("past_key_values must be [batch, heads, sequence, head_dim] with fixed heads and head_dim");
  }
  if (past.type !== "float32" && past.type !== "float16") throw reject(`cache type ${past.type}`);
  return {
    layers,
    kvHeads,
    headDim,
    kvType: past.type,
    hasPositionIds: session.inputNames.includes("position_ids"),
    hasUseCacheBranch: session.inputNames.includes("use_cache_branch"),
  };
}

/**
 * One decoder session: a forward pass over new tokens, given the cache of those before.
 *
 * @example
 * const decoder = new Decoder(ort, session, "ncn-gpt");
 * let step = await decoder.forward(promptIds, decoder.emptyCache());
 * step = await decoder.forward([nextId], step.cache);
 */
export class Decoder {
  readonly layout: DecoderLayout;
  readonly #ort: Ort;
  readonly #session: OrtSession;

  constructor(ort: Ort, session: OrtSession, modelId: string) {
    this.#ort = ort;
    this.#session = session;
    this.layout = decoderLayout(session, modelId);
  }

  emptyCache(): KvCache {
    const { layers, kvHeads, headDim, kvType } = this.layout;
    const tensors: Record<string, OrtTensor> = {};
    for (let i = 0; i < layers; i++) {
      for (const kind of ["key", "value"]) {
        const data = kvType === "float32" ? new Float32Array(0) : new Uint16Array(0);
        tensors[`past_key_values.${i}.${kind}`] = new this.#ort.Tensor(kvType, data, [
          1,
          kvHeads,
          0,
          headDim,
        ]);
      }
    }
    return { length: 0, tensors };
  }

  async forward(ids: readonly number[], cache: KvCache): Promise<ForwardResult> {
    const total = cache.length + ids.length;
    const feeds: Record<string, OrtTensor> = {
      ...cache.tensors,
      input_ids: new this.#ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]),
      attention_mask: new this.#ort.Tensor("int64", new BigInt64Array(total).fill(1n), [1, total]),
    };
    if (this.layout.hasPositionIds) {
      const positions = BigInt64Array.from({ length: ids.length }, (_, i) => BigInt(cache.length + i));
      feeds.position_ids = new this.#ort.Tensor("int64", positions, [1, ids.length]);
    }
    if (this.layout.hasUseCacheBranch) {
      feeds.use_cache_branch = new this.#ort.Tensor("bool", new Uint8Array([cache.length > 0 ? 1 : 0]), [1]);
    }
    const out = await this.#session.run(feeds);
    const logits = out.logits;
    if (!logits) throw new RuntimeError("MODEL_REJECTED", "the decoder returned no logits");
    const vocab = Number(logits.dims[logits.dims.length - 1]);
    const values = logitsAsFloat32(logits);
    const tensors: Record<string, OrtTensor> = {};
    for (let i = 0; i < this.layout.layers; i++) {
      for (const kind of ["key", "value"]) {
        const present = out[`present.${i}.${kind}`];
        if (!present)
          throw new RuntimeError("MODEL_REJECTED", `the decoder returned no present.${i}.${kind}`);
        tensors[`past_key_values.${i}.${kind}`] = present;
      }
    }
    const rows = values.length / vocab;
    return {
      // A model may return logits of the last position only; index from the end then.
      logitsAt: (i) => {
        const row = rows === ids.length ? i : rows - (ids.length - i);
        return values.subarray(row * vocab, (row + 1) * vocab);
      },
      cache: { length: total, tensors },
    };
  }
}

function logitsAsFloat32(tensor: OrtTensor): Float32Array {
  if (tensor.type === "float32" && tensor.data instanceof Float32Array) return tensor.data;
  if (tensor.type === "float16" && tensor.data instanceof Uint16Array)
    return Float32Array.from(tensor.data, halfToFloat);
  throw new RuntimeError("MODEL_REJECTED", `logits of type ${tensor.type} are not supported`);
}

/** IEEE 754 half precision bits to a number. */
function halfToFloat(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * 2 ** -14 * (fraction / 1024);
  if (exponent === 0x1f) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * 2 ** (exponent - 15) * (1 + fraction / 1024);
}

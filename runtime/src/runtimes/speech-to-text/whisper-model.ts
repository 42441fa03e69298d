import { RuntimeError } from "../../errors.ts";
import type { Ort, OrtSession, OrtTensor } from "../onnx/ort.ts";
import type { LogMel } from "./log-mel.ts";

/** What the decoder graphs take, read from their inputs (Hugging Face whisper layout). */
export interface WhisperLayout {
  layers: number;
  heads: number;
  headDim: number;
  kvType: "float32" | "float16";
  /** `decoder_model_merged.onnx`: one graph, its cache branch switched by `use_cache_branch`. */
  merged: boolean;
}

/** The decoder's cache: self-attention keys/values per layer (growing) and the encoder's (fixed). */
export interface WhisperCache {
  length: number;
  tensors: Record<string, OrtTensor>;
}

/** One decoder pass: the logits of the last position fed and the cache after it. */
export interface WhisperStep {
  logits: Float32Array;
  cache: WhisperCache;
}

const PAST = /^past_key_values\.(\d+)\.decoder\.key$/;
const PRESENT = /^present\.(\d+)\.decoder\.key$/;

const reject = (modelId: string, why: string) =>
  new RuntimeError("MODEL_REJECTED", `${modelId} is not a whisper-layout model: ${why}`, {
    details: { model: modelId },
  });

/** The layout of a whisper decoder pair (or merged decoder), or `MODEL_REJECTED` saying what is missing. */
export function whisperLayout(
  decoder: OrtSession,
  decoderWithPast: OrtSession | undefined,
  modelId: string,
): WhisperLayout {
  for (const name of ["input_ids", "encoder_hidden_states"])
    if (!decoder.inputNames.includes(name)) throw reject(modelId, `the decoder has no ${name} input`);
  if (!decoder.outputNames.includes("logits")) throw reject(modelId, "the decoder has no logits output");
  const merged = decoderWithPast === undefined;
  if (merged && !decoder.inputNames.includes("use_cache_branch"))
    throw reject(modelId, "no decoder_with_past and the decoder is not a merged one (use_cache_branch)");
  const cached = decoderWithPast ?? decoder;
  const layers = decoder.outputNames.filter((n) => PRESENT.test(n)).length;
  if (layers === 0) throw reject(modelId, "the decoder returns no present.{i}.decoder.key");
  for (let i = 0; i < layers; i++) {
    for (const part of ["decoder.key", "decoder.value", "encoder.key", "encoder.value"]) {
      if (!decoder.outputNames.includes(`present.${i}.${part}`))
        throw reject(modelId, `the decoder returns no present.${i}.${part}`);
      if (!cached.inputNames.includes(`past_key_values.${i}.${part}`))
        throw reject(modelId, `the cached decoder takes no past_key_values.${i}.${part}`);
    }
    if (!cached.outputNames.includes(`present.${i}.decoder.key`))
      throw reject(modelId, `the cached decoder returns no present.${i}.decoder.key`);
  }
  if (cached.inputNames.filter((n) => PAST.test(n)).length !== layers)
    throw reject(modelId, "the decoders disagree on the number of layers");
  const past = cached.inputMetadata.find((m) => m.name === "past_key_values.0.decoder.key");
  if (!past?.isTensor) throw reject(modelId, "past_key_values.0.decoder.key is not a tensor");
  const [, heads, , headDim] = past.shape;
  if (past.shape.length !== 4 || typeof heads !== "number" || typeof headDim !== "number")
    throw reject(
      modelId,
      "past_key_values must be [batch, heads, sequence, head_dim] with fixed heads and head_dim",
    );
  if (past.type !== "float32" && past.type !== "float16") throw reject(modelId, `cache type ${past.type}`);
  return { layers, heads, headDim, kvType: past.type, merged };
}

/**
 * A whisper-layout model's ONNX sessions: the encoder run once over the audio's log-mel
 * features, then the decoder token by token with its KV cache (the cross-attention keys of
 * the first pass are kept for every later one).
 *
 * @example
 * const model = new WhisperModel(ort, { encoder, decoder, decoderWithPast }, "ncn-whisper");
 * const states = await model.encode(mel);
 * let step = await model.start(states, promptIds);
 * step = await model.next(token, states, step.cache);
 */
export class WhisperModel {
  readonly layout: WhisperLayout;
  readonly #ort: Ort;
  readonly #encoder: OrtSession;
  readonly #decoder: OrtSession;
  readonly #decoderWithPast: OrtSession | undefined;

  constructor(
    ort: Ort,
    sessions: { encoder: OrtSession; decoder: OrtSession; decoderWithPast: OrtSession | undefined },
    modelId: string,
  ) {
    this.#ort = ort;
    this.#encoder = sessions.encoder;
    this.#decoder = sessions.decoder;
    this.#decoderWithPast = sessions.decoderWithPast;
    if (!this.#encoder.inputNames.includes("input_features"))
      throw reject(modelId, "the encoder has no input_features input");
    if (!this.#encoder.outputNames.includes("last_hidden_state"))
      throw reject(modelId, "the encoder has no last_hidden_state output");
    this.layout = whisperLayout(this.#decoder, this.#decoderWithPast, modelId);
  }

  /** `last_hidden_state` of the features (batch 1). */
  async encode(mel: LogMel): Promise<OrtTensor> {
    const features = new this.#ort.Tensor("float32", mel.data, [1, mel.nMels, mel.frames]);
    const out = await this.#encoder.run({ input_features: features });
    const states = out.last_hidden_state;
    if (!states) throw new RuntimeError("MODEL_REJECTED", "the encoder returned no last_hidden_state");
    return states;
  }

  /** The first pass: the prompt over the encoder states; the cache then holds the encoder keys too. */
  async start(states: OrtTensor, promptIds: readonly number[]): Promise<WhisperStep> {
    const feeds: Record<string, OrtTensor> = {
      input_ids: this.#ids(promptIds),
      encoder_hidden_states: states,
    };
    if (this.layout.merged) {
      Object.assign(feeds, this.#emptyPast());
      feeds.use_cache_branch = new this.#ort.Tensor("bool", new Uint8Array([0]), [1]);
    }
    const out = await this.#decoder.run(this.#only(this.#decoder, feeds));
    const tensors: Record<string, OrtTensor> = {};
    for (let i = 0; i < this.layout.layers; i++) {
      for (const part of ["decoder.key", "decoder.value", "encoder.key", "encoder.value"])
        tensors[`past_key_values.${i}.${part}`] = present(out, `present.${i}.${part}`);
    }
    return { logits: lastLogits(out), cache: { length: promptIds.length, tensors } };
  }

  /**
   * Teacher forcing: one first pass over `ids` (prompt and claimed tokens); row `i` of the
   * result is the distribution the model gives the token after `ids[i]`.
   */
  async logitsOver(states: OrtTensor, ids: readonly number[]): Promise<(i: number) => Float32Array> {
    const feeds: Record<string, OrtTensor> = { input_ids: this.#ids(ids), encoder_hidden_states: states };
    if (this.layout.merged) {
      Object.assign(feeds, this.#emptyPast());
      feeds.use_cache_branch = new this.#ort.Tensor("bool", new Uint8Array([0]), [1]);
    }
    const out = await this.#decoder.run(this.#only(this.#decoder, feeds));
    const logits = out.logits;
    if (!logits) throw new RuntimeError("MODEL_REJECTED", "the whisper decoder returned no logits");
    const vocab = Number(logits.dims[logits.dims.length - 1]);
    const values = logitsAsFloat32(logits);
    if (values.length !== vocab * ids.length)
      throw new RuntimeError(
        "MODEL_REJECTED",
        "the whisper decoder returned logits of the last position only",
      );
    return (i) => values.subarray(i * vocab, (i + 1) * vocab);
  }

  /** One more token: the decoder's own keys grow, the encoder's are reused as they are. */
  async next(token: number, states: OrtTensor, cache: WhisperCache): Promise<WhisperStep> {
    const session = this.#decoderWithPast ?? this.#decoder;
    const feeds: Record<string, OrtTensor> = { ...cache.tensors, input_ids: this.#ids([token]) };
    if (this.layout.merged) {
      feeds.encoder_hidden_states = states;
      feeds.use_cache_branch = new this.#ort.Tensor("bool", new Uint8Array([1]), [1]);
    }
    const out = await session.run(this.#only(session, feeds));
    const tensors = { ...cache.tensors };
    for (let i = 0; i < this.layout.layers; i++) {
      for (const part of ["decoder.key", "decoder.value"])
        tensors[`past_key_values.${i}.${part}`] = present(out, `present.${i}.${part}`);
    }
    return { logits: lastLogits(out), cache: { length: cache.length + 1, tensors } };
  }

  #ids(ids: readonly number[]): OrtTensor {
    return new this.#ort.Tensor("int64", BigInt64Array.from(ids, BigInt), [1, ids.length]);
  }

  #emptyPast(): Record<string, OrtTensor> {
    const { layers, heads, headDim, kvType } = this.layout;
    const tensors: Record<string, OrtTensor> = {};
    for (let i = 0; i < layers; i++) {
      for (const part of ["decoder.key", "decoder.value", "encoder.key", "encoder.value"]) {
        const data = kvType === "float32" ? new Float32Array(0) : new Uint16Array(0);
        tensors[`past_key_values.${i}.${part}`] = new this.#ort.Tensor(kvType, data, [1, heads, 0, headDim]);
      }
    }
    return tensors;
  }

  /** The feeds a session declares (a decoder_with_past takes no encoder_hidden_states). */
  #only(session: OrtSession, feeds: Record<string, OrtTensor>): Record<string, OrtTensor> {
    const chosen: Record<string, OrtTensor> = {};
    for (const name of session.inputNames) {
      const tensor = feeds[name];
      if (!tensor) throw new RuntimeError("MODEL_REJECTED", `the whisper decoder wants an input ${name}`);
      chosen[name] = tensor;
    }
    return chosen;
  }
}

function present(out: Record<string, OrtTensor>, name: string): OrtTensor {
  const tensor = out[name];
  if (!tensor) throw new RuntimeError("MODEL_REJECTED", `the whisper decoder returned no ${name}`);
  return tensor;
}

function lastLogits(out: Record<string, OrtTensor>): Float32Array {
  const logits = out.logits;
  if (!logits) throw new RuntimeError("MODEL_REJECTED", "the whisper decoder returned no logits");
  const vocab = Number(logits.dims[logits.dims.length - 1]);
  const values = logitsAsFloat32(logits);
  return values.subarray(values.length - vocab);
}

function logitsAsFloat32(logits: OrtTensor): Float32Array {
  if (logits.type === "float32" && logits.data instanceof Float32Array) return logits.data;
  if (logits.type === "float16" && logits.data instanceof Uint16Array)
    return Float32Array.from(logits.data, halfToFloat);
  throw new RuntimeError("MODEL_REJECTED", `logits of type ${logits.type} are not supported`);
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

import { Tokenizer } from "@huggingface/tokenizers";
import {
  base64ToBytes,
  hashTranscribeInput,
  hashTranscribeResult,
  type ModelDescriptor,
  TRANSCRIBE_LIMITS,
  type TranscribeResult,
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
import { Slots } from "../../system/slots.ts";
import { argmax } from "../causal-lm/sampler.ts";
import type { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { SPEECH_TO_TEXT_BUILTIN_MODELS } from "./builtin-models.ts";
import { type LogMel, LogMelExtractor } from "./log-mel.ts";
import { parseSpeechToTextManifest, type SpeechToTextManifest, speechPartsOfManifest } from "./manifest.ts";
import { resample } from "./resample.ts";
import { type TranscriptVerdict, verifyTranscript } from "./verify-transcript.ts";
import { decodeWav } from "./wav.ts";
import { WhisperModel } from "./whisper-model.ts";

/** A speech-to-text model ready to run: its sessions, tokenizer, front end and prompt ids. */
export interface LoadedSpeechToText {
  manifest: SpeechToTextManifest;
  model: WhisperModel;
  tokenizer: Tokenizer;
  frontEnd: LogMelExtractor;
  promptIds: number[];
  endId: number;
}

export interface SpeechToTextRuntimeOptions {
  onnx: OnnxRuntime;
  /** Verified bytes of a model the task has fetched. */
  loadModel: (model: ModelDescriptor) => Promise<Uint8Array>;
  /** Models served without a download (default: the built-in speech models). */
  builtin?: readonly ModelDescriptor[];
  /** Transcriptions run at once (default 1: a decode step already uses every core). */
  concurrency?: number;
  /** Models kept loaded (default 2). */
  maxLoaded?: number;
}

/** The shape of a `tokenizer.json` (its model section is checked by the tokenizer itself). */
const TokenizerJson = v.looseObject({ model: v.looseObject({ type: v.optional(v.string()) }) });

/** 0.1 s: shorter audio is padded with silence (the front end's centred frames need 201 samples). */
const MIN_SAMPLES = 1600;

/**
 * `transcribe` tasks on whisper-layout models (the Hugging Face ONNX export: encoder,
 * decoder and decoder with past, or a merged decoder): the task's model is an
 * `ncn-speech-to-text/1` manifest naming the parts by hash. The WAV is decoded, resampled
 * to 16 kHz, turned into whisper's log-mel features, encoded once, then decoded greedily
 * from the manifest's prompt tokens with the KV cache until the end token.
 *
 * @example
 * const stt = new SpeechToTextRuntime({ onnx, loadModel: (m) => store.load(m) });
 * const run = await stt.run({ kind: "transcribe", model: NCN_WHISPER, audio: wavBase64 }, { fetchModel });
 */
export class SpeechToTextRuntime implements Runtime<"transcribe"> {
  readonly name = "speech-to-text";
  readonly taskKind = "transcribe";
  readonly modelRuntime = "onnx";
  readonly #onnx: OnnxRuntime;
  readonly #load: SpeechToTextRuntimeOptions["loadModel"];
  readonly #builtin: readonly ModelDescriptor[];
  readonly #slots: Slots;
  readonly #maxLoaded: number;
  /** Loaded models by manifest hash, least recently used first. */
  readonly #loaded = new Map<string, Promise<LoadedSpeechToText>>();

  constructor(options: SpeechToTextRuntimeOptions) {
    this.#onnx = options.onnx;
    this.#load = options.loadModel;
    this.#builtin = options.builtin ?? SPEECH_TO_TEXT_BUILTIN_MODELS;
    this.#slots = new Slots(options.concurrency ?? 1);
    this.#maxLoaded = Math.max(1, options.maxLoaded ?? 2);
  }

  /** The model a manifest descriptor names, fetched and loaded (kept for the next tasks). */
  async loadModel(
    model: ModelDescriptor,
    context: Pick<RuntimeContext, "fetchModel">,
  ): Promise<LoadedSpeechToText> {
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

  async #open(
    model: ModelDescriptor,
    context: Pick<RuntimeContext, "fetchModel">,
  ): Promise<LoadedSpeechToText> {
    await context.fetchModel(model);
    const manifest = parseSpeechToTextManifest(model.id, await this.#load(model));
    const parts = speechPartsOfManifest(model, manifest, this.#builtin);
    const all = [
      parts.tokenizer,
      parts.encoder,
      parts.decoder,
      ...(parts.decoderWithPast ? [parts.decoderWithPast] : []),
    ];
    for (const part of all) await context.fetchModel(part);
    const tokenizer = loadTokenizer(await this.#load(parts.tokenizer));
    const idOf = (token: string): number => {
      const id = tokenizer.token_to_id(token);
      if (id === undefined)
        throw new RuntimeError("MODEL_REJECTED", `the tokenizer of ${model.id} has no token ${token}`);
      return id;
    };
    const open = async (part: ModelDescriptor) =>
      await this.#onnx.openSession(await this.#load(part), part.id, this.#onnx.sessionOptions());
    const whisper = new WhisperModel(
      this.#onnx.ort,
      {
        encoder: await open(parts.encoder),
        decoder: await open(parts.decoder),
        decoderWithPast: parts.decoderWithPast ? await open(parts.decoderWithPast) : undefined,
      },
      model.id,
    );
    return {
      manifest,
      model: whisper,
      tokenizer,
      frontEnd: new LogMelExtractor(manifest.frontEnd),
      promptIds: manifest.prompt.map(idOf),
      endId: idOf(manifest.endToken),
    };
  }

  async run(work: TaskWork, context: RuntimeContext): Promise<RuntimeRun> {
    const task = servedTask(this, work);
    throwIfCancelled(context.signal);
    const t0 = performance.now();
    const audio = audioOf(task.audio);
    // Fetched on every task, loaded or not: the fetch pins the manifest for the task.
    await context.fetchModel(task.model);
    const stt = await this.loadModel(task.model, context);
    const t1 = performance.now();
    const release = await this.#slots.acquire();
    let transcript: { tokens: number[]; timings: Record<string, number> };
    try {
      transcript = await this.#transcribe(stt, audio.samples, audio.sampleRate, context);
    } finally {
      release();
    }
    const result: TranscribeResult = {
      kind: "transcribe",
      text: transcriptText(stt, transcript.tokens),
      tokens: transcript.tokens,
      audio_seconds: seconds(audio.samples, audio.sampleRate),
    };
    return {
      result,
      inputHash: hashTranscribeInput(task),
      outputHash: hashTranscribeResult(result),
      timings: { load: t1 - t0, ...transcript.timings },
    };
  }

  /**
   * A validator's check of an agent's transcript: the audio's length and the text against
   * the tokens, then every token by teacher forcing (`verifyTranscript`): the encoder once
   * and one decoder pass, no decoding loop.
   *
   * @example const verdict = await stt.verify(task, result, { fetchModel });
   */
  async verify(
    work: TaskWork,
    result: TranscribeResult,
    context: Pick<RuntimeContext, "fetchModel">,
    greedyMargin?: number,
  ): Promise<TranscriptVerdict> {
    const task = servedTask(this, work);
    const audio = audioOf(task.audio);
    if (seconds(audio.samples, audio.sampleRate) !== result.audio_seconds)
      return { ok: false, position: -1, token: -1, reason: "duration_mismatch" };
    const stt = await this.loadModel(task.model, context);
    if (transcriptText(stt, result.tokens) !== result.text)
      return { ok: false, position: -1, token: -1, reason: "text_mismatch" };
    const budget = tokenBudget(stt);
    if (result.tokens.length > budget)
      return { ok: false, position: budget, token: result.tokens[budget] ?? 0, reason: "too_many_tokens" };
    const release = await this.#slots.acquire();
    try {
      const states = await stt.model.encode(features(stt, audio.samples, audio.sampleRate));
      const ids = [...stt.promptIds, ...result.tokens];
      const logitsAt = await stt.model.logitsOver(states, ids);
      return verifyTranscript({
        logitsAt,
        promptLength: stt.promptIds.length,
        tokens: result.tokens,
        endId: stt.endId,
        budget,
        ...(greedyMargin === undefined ? {} : { greedyMargin }),
      });
    } finally {
      release();
    }
  }

  async #transcribe(
    stt: LoadedSpeechToText,
    samples: Float32Array,
    sampleRate: number,
    context: RuntimeContext,
  ): Promise<{ tokens: number[]; timings: Record<string, number> }> {
    const t0 = performance.now();
    context.onProgress?.("features", 0);
    const mel = features(stt, samples, sampleRate);
    const t1 = performance.now();
    throwIfCancelled(context.signal);
    context.onProgress?.("encode", 0);
    const states = await stt.model.encode(mel);
    const t2 = performance.now();
    context.onProgress?.("decode", 0);
    const budget = tokenBudget(stt);
    const tokens: number[] = [];
    let step = await stt.model.start(states, stt.promptIds);
    while (tokens.length < budget) {
      throwIfCancelled(context.signal);
      const token = argmax(step.logits);
      if (token === stt.endId) break;
      tokens.push(token);
      if (tokens.length === budget) break;
      step = await stt.model.next(token, states, step.cache);
    }
    const t3 = performance.now();
    return { tokens, timings: { features: t1 - t0, encode: t2 - t1, decode: t3 - t2 } };
  }
}

/** 16 kHz log-mel features of the audio, padded as the manifest says. */
function features(stt: LoadedSpeechToText, samples: Float32Array, sampleRate: number): LogMel {
  const rate = stt.manifest.frontEnd.sampleRate;
  let pcm = resample(samples, sampleRate, rate);
  const length = Math.max(MIN_SAMPLES, stt.manifest.chunkSeconds ? stt.manifest.chunkSeconds * rate : 0);
  if (pcm.length < length) {
    const padded = new Float32Array(length);
    padded.set(pcm);
    pcm = padded;
  }
  return stt.frontEnd.extract(pcm);
}

/** Most transcript tokens: the model's positions after the prompt, within the protocol's bound. */
function tokenBudget(stt: LoadedSpeechToText): number {
  return Math.min(TRANSCRIBE_LIMITS.maxTokens, stt.manifest.maxTargetPositions - stt.promptIds.length);
}

/** A task's audio: base64 WAV, decoded (typed `INVALID_INPUT` errors otherwise). */
function audioOf(base64: string): ReturnType<typeof decodeWav> {
  let wav: Uint8Array;
  try {
    wav = base64ToBytes(base64);
  } catch {
    throw new RuntimeError("INVALID_INPUT", "audio is not base64");
  }
  return decodeWav(wav);
}

/** The text a transcript's tokens decode to (special tokens left out), as results carry it. */
function transcriptText(stt: LoadedSpeechToText, tokens: number[]): string {
  return stt.tokenizer.decode(tokens, { skip_special_tokens: true }).trim();
}

function seconds(samples: Float32Array, sampleRate: number): number {
  return Math.round((samples.length / sampleRate) * 1000) / 1000;
}

function loadTokenizer(bytes: Uint8Array): Tokenizer {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(TokenizerJson, json);
  if (!parsed.success) throw new RuntimeError("MODEL_REJECTED", "the model's tokenizer.json is not valid");
  try {
    return new Tokenizer(parsed.output, {});
  } catch (e) {
    throw new RuntimeError("MODEL_REJECTED", "the model's tokenizer cannot be loaded", { cause: e });
  }
}

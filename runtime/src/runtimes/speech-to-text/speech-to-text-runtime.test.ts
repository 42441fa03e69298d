import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToBase64,
  hashTranscribeInput,
  hashTranscribeResult,
  type ModelDescriptor,
  type ModelId,
  type Sha256,
} from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import type { RuntimeContext, TaskWork } from "../../runtime.ts";
import { ModelStore } from "../../store/model-store.ts";
import { STRICT_SOURCE_POLICY } from "../../store/source-policy.ts";
import { characterErrorRate } from "../../testing/render-text.ts";
import { NCN_WHISPER_CER_BOUND, spokenSentences } from "../../testing/spoken-audio.ts";
import { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { NCN_WHISPER, NCN_WHISPER_MANIFEST, SPEECH_TO_TEXT_BUILTIN_MODELS } from "./builtin-models.ts";
import { type SpeechToTextManifest, speechToTextManifestBytes } from "./manifest.ts";
import { NCN_WHISPER_FILES } from "./ncn-whisper-files.ts";
import { resample } from "./resample.ts";
import { SpeechToTextRuntime } from "./speech-to-text-runtime.ts";
import { decodeWav, encodeWav } from "./wav.ts";

let dir: string;
let onnx: OnnxRuntime;
let store: ModelStore;
let stt: SpeechToTextRuntime;
const context: RuntimeContext = { fetchModel: async (m) => void (await store.ensure(m)) };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-speech-"));
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes: 200 * 1024 * 1024,
    ttlMs: 3_600_000,
    sources: { ...STRICT_SOURCE_POLICY, localDirs: [dir] },
  });
  stt = new SpeechToTextRuntime({ onnx, loadModel: (m) => store.load(m) });
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

const transcribe = (wav: Uint8Array, model: ModelDescriptor = NCN_WHISPER): TaskWork => ({
  kind: "transcribe",
  model,
  audio: bytesToBase64(wav),
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof RuntimeError ? e.code : `untyped: ${String(e)}`;
  }
}

describe("ncn-whisper files", () => {
  test("the built-in descriptors name the shipped files by their sha256 and size", () => {
    const assets = join(import.meta.dir, "../../../assets/ncn-whisper");
    for (const model of SPEECH_TO_TEXT_BUILTIN_MODELS) {
      const bytes = readFileSync(join(assets, model.sources[0]?.split("/").pop() ?? ""));
      expect(`0x${createHash("sha256").update(bytes).digest("hex")}`).toBe(model.sha256);
      expect(bytes.byteLength).toBe(model.size);
    }
    const manifest = speechToTextManifestBytes(NCN_WHISPER_MANIFEST);
    expect(Buffer.from(manifest).equals(readFileSync(join(assets, "ncn-whisper.speech-to-text")))).toBe(true);
    expect(NCN_WHISPER.task).toBe("transcribe");
  });
});

describe("SpeechToTextRuntime on ncn-whisper", () => {
  test(`transcribes held-out sentences read by espeak-ng under ${NCN_WHISPER_CER_BOUND * 100}% CER`, async () => {
    const sentences = spokenSentences();
    let errors = 0;
    let chars = 0;
    for (const sentence of sentences) {
      const run = await stt.run(transcribe(sentence.wav), context);
      if (run.result.kind !== "transcribe") throw new Error(`expected a transcript, got ${run.result.kind}`);
      errors += characterErrorRate(sentence.target, run.result.text) * sentence.target.length;
      chars += sentence.target.length;
      expect(run.result.tokens.length).toBe(run.result.text.length);
      expect(run.result.audio_seconds).toBeGreaterThan(1);
      expect(run.inputHash).toBe(hashTranscribeInput({ audio: bytesToBase64(sentence.wav) }));
      expect(run.outputHash).toBe(hashTranscribeResult(run.result));
      expect(run.timings.decode).toBeGreaterThan(0);
    }
    expect(errors / chars).toBeLessThan(NCN_WHISPER_CER_BOUND);
  });

  test("the same audio at 16 kHz (no resampling in the runtime) reads the same", async () => {
    const [sentence] = spokenSentences();
    if (!sentence) throw new Error("no held-out sentence");
    const mono = await stt.run(transcribe(sentence.wav), context);
    // resampled here once and written as a 16 kHz file: the runtime reads it as it is
    const decoded = decodeWav(sentence.wav);
    const at16k = encodeWav(resample(decoded.samples, decoded.sampleRate, 16_000), 16_000);
    const resampled = await stt.run(transcribe(at16k), context);
    if (mono.result.kind !== "transcribe" || resampled.result.kind !== "transcribe")
      throw new Error("transcripts expected");
    expect(characterErrorRate(mono.result.text, resampled.result.text)).toBeLessThan(0.05);
    expect(resampled.result.audio_seconds).toBeCloseTo(mono.result.audio_seconds, 1);
  });

  test("loads the merged layout (decoder_model_merged.onnx, use_cache_branch) and transcribes the same", async () => {
    const merged = NCN_WHISPER_FILES["decoder_model_merged.onnx"];
    const manifest: SpeechToTextManifest = {
      ...NCN_WHISPER_MANIFEST,
      decoder: {
        sha256: merged.sha256 as Sha256,
        size: merged.size,
        sources: ["npm:@ncn/runtime/assets/ncn-whisper/decoder_model_merged.onnx"],
      },
    };
    delete manifest.decoderWithPast;
    const bytes = speechToTextManifestBytes(manifest);
    writeFileSync(join(dir, "merged.speech-to-text"), bytes);
    const model: ModelDescriptor = {
      ...NCN_WHISPER,
      id: "ncn-whisper-merged" as ModelId,
      sha256: `0x${createHash("sha256").update(bytes).digest("hex")}` as Sha256,
      size: bytes.byteLength,
      sources: [`file:${join(dir, "merged.speech-to-text")}`],
    };
    const loaded = await stt.loadModel(model, context);
    expect(loaded.model.layout.merged).toBe(true);
    expect(loaded.model.layout.layers).toBe(3);
    const [sentence] = spokenSentences();
    if (!sentence) throw new Error("no held-out sentence");
    const split = await stt.run(transcribe(sentence.wav), context);
    const viaMerged = await stt.run(transcribe(sentence.wav, model), context);
    expect(viaMerged.result).toEqual(split.result);
  });

  test("a validator's teacher-forcing check passes an honest transcript and catches altered ones", async () => {
    const [sentence] = spokenSentences();
    if (!sentence) throw new Error("no held-out sentence");
    const task = transcribe(sentence.wav);
    const run = await stt.run(task, context);
    if (run.result.kind !== "transcribe") throw new Error("transcript expected");
    const honest = run.result;
    expect(await stt.verify(task, honest, context)).toEqual({ ok: true, checked: honest.tokens.length });
    const loaded = await stt.loadModel(NCN_WHISPER, context);
    const text = (tokens: number[]) => loaded.tokenizer.decode(tokens, { skip_special_tokens: true }).trim();
    // one character swapped for another letter
    const swapped = [...honest.tokens];
    const at = Math.floor(swapped.length / 2);
    swapped[at] = (swapped[at] ?? 0) === 10 ? 11 : 10;
    const forged = await stt.verify(task, { ...honest, tokens: swapped, text: text(swapped) }, context);
    expect(forged).toMatchObject({ ok: false, position: at, reason: "not_greedy" });
    // the transcript cut before its end
    const cut = honest.tokens.slice(0, -3);
    expect(await stt.verify(task, { ...honest, tokens: cut, text: text(cut) }, context)).toMatchObject({
      ok: false,
      position: cut.length,
      reason: "cut_short",
    });
    expect(await stt.verify(task, { ...honest, text: `${honest.text}!` }, context)).toMatchObject({
      ok: false,
      reason: "text_mismatch",
    });
    expect(
      await stt.verify(task, { ...honest, audio_seconds: honest.audio_seconds + 1 }, context),
    ).toMatchObject({
      ok: false,
      reason: "duration_mismatch",
    });
  });

  test("silence gives a short transcript, not an endless one", async () => {
    const run = await stt.run(transcribe(encodeWav(new Float32Array(16_000), 16_000)), context);
    if (run.result.kind !== "transcribe") throw new Error("transcript expected");
    expect(run.result.tokens.length).toBeLessThan(124);
    expect(run.result.audio_seconds).toBe(1);
  });

  test("refuses audio that is not a 16-bit PCM WAV, or longer than 30 s, with INVALID_INPUT", async () => {
    expect(
      await codeOf(
        stt.run(
          transcribe(new TextEncoder().encode("not a wav file at all, just text here, long enough")),
          context,
        ),
      ),
    ).toBe("INVALID_INPUT");
    expect(await codeOf(stt.run(transcribe(encodeWav(new Float32Array(8000 * 31), 8000)), context))).toBe(
      "INVALID_INPUT",
    );
  });

  test("refuses a manifest of another format with INVALID_INPUT", async () => {
    const bytes = new TextEncoder().encode(JSON.stringify({ format: "ncn-causal-lm/1" }));
    writeFileSync(join(dir, "bad.speech-to-text"), bytes);
    const bad: ModelDescriptor = {
      id: "bad-whisper" as ModelId,
      sha256: `0x${createHash("sha256").update(bytes).digest("hex")}` as Sha256,
      size: bytes.byteLength,
      runtime: "onnx",
      sources: [`file:${join(dir, "bad.speech-to-text")}`],
      inputs: [],
      outputs: [],
      task: "transcribe",
    };
    const [sentence] = spokenSentences();
    if (!sentence) throw new Error("no held-out sentence");
    expect(await codeOf(stt.run(transcribe(sentence.wav, bad), context))).toBe("INVALID_INPUT");
  });
});

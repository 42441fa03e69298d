// Real-time factor of the built-in speech recogniser run directly through the
// speech-to-text runtime (no gateway, no agent link): the held-out espeak-ng sentences
// transcribed one after another, the time spent over the seconds of audio heard.
//   node tools/bun.mjs bench/src/speech/bench-speech.ts [--quick]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bytesToBase64 } from "@ncn/protocol";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { NCN_WHISPER, SpeechToTextRuntime } from "@ncn/runtime/speech-to-text";
import { spokenSentences } from "@ncn/runtime/testing/spoken-audio";
import { benchModelStore } from "../model-store.ts";
import { fmt, percentile } from "../stats.ts";

export interface SpeechFigures {
  [figure: string]: number;
}

export async function benchSpeech(quick: boolean): Promise<SpeechFigures> {
  const dir = mkdtempSync(join(tmpdir(), "ncn-bench-speech-"));
  const onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  try {
    const { loadModel, context } = await benchModelStore(dir);
    const runtime = new SpeechToTextRuntime({ onnx, loadModel });
    const audio = spokenSentences().map((s) => bytesToBase64(s.wav));
    // Warm-up: model fetched and verified, sessions opened, tokenizer parsed.
    for (const a of audio.slice(0, 2))
      await runtime.run({ kind: "transcribe", model: NCN_WHISPER, audio: a }, context);
    const rounds = quick ? 1 : 5;
    const latencies: number[] = [];
    const stages = { features: 0, encode: 0, decode: 0 };
    let heard = 0;
    let tokens = 0;
    const start = performance.now();
    for (let r = 0; r < rounds; r++) {
      for (const a of audio) {
        const t0 = performance.now();
        const run = await runtime.run({ kind: "transcribe", model: NCN_WHISPER, audio: a }, context);
        latencies.push(performance.now() - t0);
        if (run.result.kind !== "transcribe") throw new Error("the runtime returned no transcript");
        heard += run.result.audio_seconds;
        tokens += run.result.tokens.length;
        for (const k of Object.keys(stages) as (keyof typeof stages)[]) stages[k] += run.timings[k] ?? 0;
      }
    }
    const elapsed = (performance.now() - start) / 1000;
    const figures: SpeechFigures = {
      speech_real_time_factor: elapsed / heard,
      speech_audio_s_per_s: heard / elapsed,
      speech_task_ms_p50: percentile(latencies, 50),
      speech_task_ms_p99: percentile(latencies, 99),
      speech_decode_tokens_per_s: tokens / (stages.decode / 1000),
    };
    for (const [k, ms] of Object.entries(stages)) figures[`speech_${k}_ms_per_task`] = ms / latencies.length;
    return figures;
  } finally {
    await onnx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const figures = await benchSpeech(process.argv.includes("--quick"));
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  for (const [k, value] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${fmt(value, 3)}`);
}

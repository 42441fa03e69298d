import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PowerSpectrum } from "./fft.ts";
import { LogMelExtractor, melFilters, WHISPER_FRONT_END } from "./log-mel.ts";
import { resample } from "./resample.ts";
import { decodeWav, encodeWav } from "./wav.ts";

const FIXTURES = join(import.meta.dir, "fixtures");

describe("audio front end", () => {
  test("WAV, resampling and log-mel agree with the Python front end the model was trained on", () => {
    const { samples, sampleRate } = decodeWav(readFileSync(join(FIXTURES, "held-out-0.wav")));
    expect(sampleRate).toBe(22_050);
    const pcm = resample(samples, sampleRate, 16_000);
    expect(pcm.length).toBe(Math.floor((samples.length * 16_000) / 22_050));
    const mel = new LogMelExtractor(WHISPER_FRONT_END).extract(pcm);
    const bytes = readFileSync(join(FIXTURES, "held-out-0.log-mel.f32"));
    const want = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
    expect(mel.nMels).toBe(80);
    expect(mel.frames * 80).toBe(want.length);
    let worst = 0;
    for (const [i, w] of want.entries()) worst = Math.max(worst, Math.abs((mel.data[i] ?? 0) - w));
    expect(worst).toBeLessThan(1e-4);
  });

  test("the FFT's power spectrum matches a direct DFT", () => {
    const frame = Float64Array.from({ length: 400 }, (_, i) => Math.sin(i * 0.37) + ((i * 7919) % 13) / 13);
    const got = new PowerSpectrum(400).of(frame);
    for (const k of [0, 1, 17, 100, 199, 200]) {
      let re = 0;
      let im = 0;
      for (const [n, x] of frame.entries()) {
        re += x * Math.cos((2 * Math.PI * k * n) / 400);
        im -= x * Math.sin((2 * Math.PI * k * n) / 400);
      }
      expect(Math.abs((got[k] ?? 0) - (re * re + im * im))).toBeLessThan(1e-6 * (1 + re * re + im * im));
    }
  });

  test("whisper's filterbank: 80 triangles, Slaney-normalised, covering 0-8 kHz", () => {
    const filters = melFilters(WHISPER_FRONT_END);
    expect(filters).toHaveLength(80);
    // frontend.py's mel_filters()[0, 1] and [79].max() (librosa's formulas)
    expect(filters[0]?.start).toBe(1);
    expect(filters[0]?.weights[0]).toBeCloseTo(0.024862, 5);
    expect(Math.max(...(filters[79]?.weights ?? []))).toBeCloseTo(0.0031647, 6);
  });

  test("a 440 Hz tone lights the mel bin around 440 Hz; silence is all at the floor", () => {
    const tone = Float32Array.from(
      { length: 16_000 },
      (_, i) => 0.5 * Math.sin((2 * Math.PI * 440 * i) / 16_000),
    );
    const mel = new LogMelExtractor().extract(tone);
    expect(mel.frames).toBe(100);
    const column = Array.from({ length: 80 }, (_, m) => mel.data[m * mel.frames + 50] ?? 0);
    const peak = column.indexOf(Math.max(...column));
    expect(peak).toBeGreaterThanOrEqual(8);
    expect(peak).toBeLessThanOrEqual(12);
    const silence = new LogMelExtractor().extract(new Float32Array(3200));
    expect(new Set(silence.data).size).toBe(1);
  });

  test("resampling keeps a tone's frequency and amplitude", () => {
    const tone = Float32Array.from({ length: 44_100 }, (_, i) => Math.sin((2 * Math.PI * 1000 * i) / 44_100));
    const out = resample(tone, 44_100, 16_000);
    expect(out.length).toBe(16_000);
    let worst = 0;
    for (let i = 1000; i < 15_000; i++)
      worst = Math.max(worst, Math.abs((out[i] ?? 0) - Math.sin((2 * Math.PI * 1000 * i) / 16_000)));
    expect(worst).toBeLessThan(0.01);
  });

  test("WAV: stereo is averaged, streamed sizes read to the end, other encodings refused", () => {
    const mono = encodeWav(Float32Array.from([0, 0.5, -0.5, 0.25]), 8000);
    expect(Array.from(decodeWav(mono).samples)).toEqual([0, 0.5, -0.5, 0.25]);
    const streamed = mono.slice();
    new DataView(streamed.buffer).setUint32(40, 0xffffffff, true);
    expect(decodeWav(streamed).samples).toHaveLength(4);
    const stereo = mono.slice();
    const view = new DataView(stereo.buffer);
    view.setUint16(22, 2, true);
    expect(Array.from(decodeWav(stereo).samples)).toEqual([0.25, -0.125]);
    const float = mono.slice();
    new DataView(float.buffer).setUint16(20, 3, true);
    expect(() => decodeWav(float)).toThrow("16-bit PCM");
    expect(() => decodeWav(new Uint8Array(100))).toThrow("RIFF");
    expect(() => decodeWav(encodeWav(new Float32Array(8000 * 31), 8000))).toThrow("at most 30 s");
  });
});

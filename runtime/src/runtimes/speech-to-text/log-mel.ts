import { PowerSpectrum } from "./fft.ts";

/** Whisper's front end: 16 kHz, 25 ms window (400), 10 ms hop (160), 80 mel bins. */
export const WHISPER_FRONT_END = { sampleRate: 16_000, nFft: 400, hop: 160, nMels: 80 } as const;

export interface FrontEnd {
  sampleRate: number;
  nFft: number;
  hop: number;
  nMels: number;
}

/** Log-mel features: `nMels` rows of `frames` values, row-major (whisper's `[80, frames]`). */
export interface LogMel {
  data: Float32Array;
  nMels: number;
  frames: number;
}

const F_SP = 200 / 3;
const MIN_LOG_HZ = 1000;
const MIN_LOG_MEL = MIN_LOG_HZ / F_SP;
const LOG_STEP = Math.log(6.4) / 27;

function hzToMel(f: number): number {
  return f >= MIN_LOG_HZ ? MIN_LOG_MEL + Math.log(f / MIN_LOG_HZ) / LOG_STEP : f / F_SP;
}

function melToHz(m: number): number {
  return m >= MIN_LOG_MEL ? MIN_LOG_HZ * Math.exp(LOG_STEP * (m - MIN_LOG_MEL)) : F_SP * m;
}

/** One triangular filter: its weights over FFT bins [start, start + weights.length). */
interface MelFilter {
  start: number;
  weights: Float64Array;
}

/** librosa's `filters.mel(sr, n_fft, n_mels)` (Slaney scale and area normalisation), as whisper uses it. */
export function melFilters(frontEnd: FrontEnd): MelFilter[] {
  const { sampleRate, nFft, nMels } = frontEnd;
  const bins = nFft / 2 + 1;
  const fftFreqs = Array.from({ length: bins }, (_, k) => (k * sampleRate) / 2 / (bins - 1));
  const top = hzToMel(sampleRate / 2);
  const melF = Array.from({ length: nMels + 2 }, (_, i) => melToHz((top * i) / (nMels + 1)));
  const filters: MelFilter[] = [];
  for (let i = 0; i < nMels; i++) {
    const lo = melF[i] ?? 0;
    const mid = melF[i + 1] ?? 0;
    const hi = melF[i + 2] ?? 0;
    const norm = 2 / (hi - lo);
    const row = fftFreqs.map(
      (f) => Math.max(0, Math.min((f - lo) / (mid - lo), (hi - f) / (hi - mid))) * norm,
    );
    const first = row.findIndex((w) => w > 0);
    const last = row.findLastIndex((w) => w > 0);
    filters.push(
      first < 0
        ? { start: 0, weights: new Float64Array(0) }
        : { start: first, weights: Float64Array.from(row.slice(first, last + 1)) },
    );
  }
  return filters;
}

/**
 * Whisper's log-mel spectrogram of 16 kHz samples, the arithmetic of
 * `WhisperFeatureExtractor` and `runtime/models/ncn-whisper/frontend.py`: centred frames
 * (reflect padding of nFft/2), periodic Hann window, power spectrum, mel filterbank,
 * log10 clamped at 1e-10, floored at the maximum minus 8, then (x + 4) / 4. Frames:
 * `samples.length / hop`, rounded down (the STFT's last frame is dropped, as whisper does).
 *
 * @example logMel(samples16k, WHISPER_FRONT_END).frames // 100 per second
 */
export class LogMelExtractor {
  readonly frontEnd: FrontEnd;
  readonly #filters: MelFilter[];
  readonly #window: Float64Array;
  readonly #spectrum: PowerSpectrum;

  constructor(frontEnd: FrontEnd = WHISPER_FRONT_END) {
    this.frontEnd = frontEnd;
    this.#filters = melFilters(frontEnd);
    this.#window = Float64Array.from(
      { length: frontEnd.nFft },
      (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / frontEnd.nFft),
    );
    this.#spectrum = new PowerSpectrum(frontEnd.nFft);
  }

  /** Features of `samples` (at least nFft / 2 + 1 of them for the reflect padding). */
  extract(samples: Float32Array): LogMel {
    const { nFft, hop, nMels } = this.frontEnd;
    const half = nFft / 2;
    const length = samples.length;
    if (length <= half) throw new RangeError(`log-mel needs more than ${half} samples`);
    const frames = Math.floor(length / hop);
    const at = (i: number): number => {
      const j = i < 0 ? -i : i >= length ? 2 * (length - 1) - i : i;
      return samples[j] ?? 0;
    };
    const frame = new Float64Array(nFft);
    const power = new Float64Array(nFft / 2 + 1);
    const logs = new Float64Array(nMels * frames);
    let max = Number.NEGATIVE_INFINITY;
    for (let t = 0; t < frames; t++) {
      const start = t * hop - half;
      for (let j = 0; j < nFft; j++) frame[j] = at(start + j) * (this.#window[j] ?? 0);
      this.#spectrum.of(frame, power);
      for (let m = 0; m < nMels; m++) {
        const filter = this.#filters[m];
        let sum = 0;
        if (filter) {
          for (let k = 0; k < filter.weights.length; k++)
            sum += (filter.weights[k] ?? 0) * (power[filter.start + k] ?? 0);
        }
        const value = Math.log10(Math.max(sum, 1e-10));
        logs[m * frames + t] = value;
        if (value > max) max = value;
      }
    }
    const data = new Float32Array(logs.length);
    const floor = max - 8;
    for (let i = 0; i < logs.length; i++) data[i] = (Math.max(logs[i] ?? floor, floor) + 4) / 4;
    return { data, nMels, frames };
  }
}

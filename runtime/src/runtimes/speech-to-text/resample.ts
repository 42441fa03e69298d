/** Zero crossings of the lower rate's sinc each side of an output sample. */
const ZERO_CROSSINGS = 16;

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = Math.PI * x;
  return Math.sin(px) / px;
}

/**
 * Windowed-sinc resampling, the same arithmetic as `runtime/models/ncn-whisper/frontend.py`
 * (what the model was trained on): output `n` is the input at `n * in / out` through a
 * low-pass at the lower rate's Nyquist, a Hann window over 16 of its zero crossings. The
 * fractional positions repeat every `out / gcd(in, out)` outputs, so their taps are
 * computed once per phase.
 *
 * @example resample(samples22k, 22050, 16000).length // samples22k.length * 16000 / 22050, rounded down
 */
export function resample(samples: Float32Array, inRate: number, outRate: number): Float32Array {
  if (inRate === outRate) return samples;
  const scale = Math.min(1, outRate / inRate);
  const halfWidth = ZERO_CROSSINGS / scale;
  const period = outRate / gcd(inRate, outRate);
  const reach = Math.ceil(halfWidth);
  const width = 2 * reach;
  const taps = new Float64Array(period * width);
  for (let p = 0; p < period; p++) {
    const frac = ((p * inRate) % outRate) / outRate;
    for (let j = 0; j < width; j++) {
      const d = frac - (j - reach + 1);
      const window = Math.abs(d) < halfWidth ? 0.5 * (1 + Math.cos((Math.PI * d) / halfWidth)) : 0;
      taps[p * width + j] = scale * sinc(scale * d) * window;
    }
  }
  const outLength = Math.floor((samples.length * outRate) / inRate);
  const out = new Float32Array(outLength);
  for (let n = 0; n < outLength; n++) {
    const base = Math.floor((n * inRate) / outRate) - reach + 1;
    const row = (n % period) * width;
    let sum = 0;
    for (let j = 0; j < width; j++) {
      const k = base + j;
      if (k >= 0 && k < samples.length) sum += (samples[k] ?? 0) * (taps[row + j] ?? 0);
    }
    out[n] = sum;
  }
  return out;
}

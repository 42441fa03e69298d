/**
 * Power spectrum of real frames of one length by a mixed-radix FFT (any length whose prime
 * factors are small; whisper's 400 is 2^4 * 5^2). Tables are built once per length.
 *
 * @example new PowerSpectrum(400).of(frame) // 201 bins
 */
export class PowerSpectrum {
  readonly size: number;
  readonly #factors: number[];
  readonly #cos: Float64Array;
  readonly #sin: Float64Array;
  readonly #re: Float64Array;
  readonly #im: Float64Array;
  readonly #scratchRe: Float64Array;
  readonly #scratchIm: Float64Array;

  constructor(size: number) {
    this.size = size;
    this.#factors = factorize(size);
    this.#cos = Float64Array.from({ length: size }, (_, k) => Math.cos((2 * Math.PI * k) / size));
    this.#sin = Float64Array.from({ length: size }, (_, k) => -Math.sin((2 * Math.PI * k) / size));
    this.#re = new Float64Array(size);
    this.#im = new Float64Array(size);
    const largest = Math.max(...this.#factors);
    this.#scratchRe = new Float64Array(largest);
    this.#scratchIm = new Float64Array(largest);
  }

  /** |X[k]|^2 for k = 0..size/2 of a real frame of `size` samples, written into `out`. */
  of(frame: Float64Array, out: Float64Array = new Float64Array(this.size / 2 + 1)): Float64Array {
    this.#transform(frame, 0, 1, this.size, 0, 0);
    for (let k = 0; k < out.length; k++) {
      const re = this.#re[k] ?? 0;
      const im = this.#im[k] ?? 0;
      out[k] = re * re + im * im;
    }
    return out;
  }

  /** DFT of input[offset + stride * j], j < n, into this.#re/#im at [at, at + n). */
  #transform(
    input: Float64Array,
    offset: number,
    stride: number,
    n: number,
    at: number,
    level: number,
  ): void {
    const re = this.#re;
    const im = this.#im;
    if (n === 1) {
      re[at] = input[offset] ?? 0;
      im[at] = 0;
      return;
    }
    const p = this.#factors[level] ?? n;
    const m = n / p;
    for (let q = 0; q < p; q++)
      this.#transform(input, offset + q * stride, stride * p, m, at + q * m, level + 1);
    // Combine the p sub-transforms: X[k + s m] = sum_q W_n^{q (k + s m)} Y_q[k].
    const twiddleStep = this.size / n;
    const sRe = this.#scratchRe;
    const sIm = this.#scratchIm;
    for (let k = 0; k < m; k++) {
      for (let q = 0; q < p; q++) {
        sRe[q] = re[at + q * m + k] ?? 0;
        sIm[q] = im[at + q * m + k] ?? 0;
      }
      for (let s = 0; s < p; s++) {
        const index = k + s * m;
        let sumRe = 0;
        let sumIm = 0;
        for (let q = 0; q < p; q++) {
          const t = ((q * index) % n) * twiddleStep;
          const c = this.#cos[t] ?? 0;
          const w = this.#sin[t] ?? 0;
          const yr = sRe[q] ?? 0;
          const yi = sIm[q] ?? 0;
          sumRe += yr * c - yi * w;
          sumIm += yr * w + yi * c;
        }
        re[at + index] = sumRe;
        im[at + index] = sumIm;
      }
    }
  }
}

function factorize(n: number): number[] {
  const factors: number[] = [];
  let rest = n;
  for (const f of [4, 2, 3, 5]) {
    while (rest % f === 0) {
      factors.push(f);
      rest /= f;
    }
  }
  for (let f = 7; rest > 1; f += 2) {
    while (rest % f === 0) {
      factors.push(f);
      rest /= f;
    }
  }
  return factors;
}

import type { SamplingParams } from "@ncn/protocol";

/** A PRNG returning floats in [0, 1). */
export type Prng = () => number;

/**
 * A seeded PRNG (splitmix32): only 32-bit integer arithmetic, so the same seed gives the
 * same sequence on every machine and JavaScript engine.
 *
 * @example const rng = seededPrng(42); rng(); // always the same first draw for seed 42
 */
export function seededPrng(seed: number): Prng {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x9e3779b9) | 0;
    let z = state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    z ^= z >>> 16;
    return (z >>> 0) / 0x1_0000_0000;
  };
}

/** Index of the largest logit (the lowest index among equals). */
export function argmax(logits: ArrayLike<number>): number {
  let best = 0;
  let bestValue = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) {
    const value = logits[i] ?? Number.NEGATIVE_INFINITY;
    if (value > bestValue) {
      bestValue = value;
      best = i;
    }
  }
  return best;
}

/** Token ids with their probabilities, most probable first (ties: lower id first). */
export interface RankedProbs {
  ids: Int32Array;
  probs: Float64Array;
}

/** Softmax of `logits / temperature` in double precision, ranked by probability. */
export function rankedProbs(logits: ArrayLike<number>, temperature: number): RankedProbs {
  const probs = softmax(logits, temperature);
  const ids = Int32Array.from({ length: probs.length }, (_, i) => i);
  ids.sort((a, b) => (probs[b] ?? 0) - (probs[a] ?? 0) || a - b);
  return { ids, probs: Float64Array.from(ids, (id) => probs[id] ?? 0) };
}

/** How many of the ranked tokens form the nucleus: the fewest whose mass reaches `topP` (at least one). */
export function nucleusSize(ranked: RankedProbs, topP: number): number {
  if (topP >= 1) return ranked.ids.length;
  let mass = 0;
  for (let i = 0; i < ranked.probs.length; i++) {
    mass += ranked.probs[i] ?? 0;
    if (mass >= topP) return i + 1;
  }
  return ranked.ids.length;
}

/** Softmax of `logits / temperature` in double precision, in id order. */
function softmax(logits: ArrayLike<number>, temperature: number): Float64Array {
  const n = logits.length;
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < n; i++) max = Math.max(max, logits[i] ?? Number.NEGATIVE_INFINITY);
  const probs = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const p = Math.exp(((logits[i] ?? Number.NEGATIVE_INFINITY) - max) / temperature);
    probs[i] = p;
    sum += p;
  }
  for (let i = 0; i < n; i++) probs[i] = (probs[i] ?? 0) / sum;
  return probs;
}

/**
 * The top-`topP` nucleus, most probable first (ties: lower id first). Only tokens above a
 * threshold are sorted: when those already hold `topP` of the mass, every nucleus token is
 * among them, so the result equals sorting the whole vocabulary.
 */
function nucleus(probs: Float64Array, topP: number): { ids: number[]; mass: number } {
  for (let threshold = 1e-4; ; threshold = threshold > 1e-12 ? threshold * 1e-2 : 0) {
    const ids: number[] = [];
    let candidateMass = 0;
    for (let i = 0; i < probs.length; i++) {
      const p = probs[i] ?? 0;
      if (p >= threshold) {
        ids.push(i);
        candidateMass += p;
      }
    }
    if (candidateMass < topP && threshold > 0) continue;
    ids.sort((a, b) => (probs[b] ?? 0) - (probs[a] ?? 0) || a - b);
    let mass = 0;
    for (let i = 0; i < ids.length; i++) {
      mass += probs[ids[i] ?? 0] ?? 0;
      if (mass >= topP) return { ids: ids.slice(0, i + 1), mass };
    }
    return { ids, mass };
  }
}

/**
 * Chooses the next token: the argmax when `temperature` is 0; otherwise a draw from the
 * softmax at `temperature` (in double precision), restricted to the top-`top_p` nucleus
 * taken in rank order, using one PRNG value. Without a nucleus (`top_p` 1) the draw walks
 * the vocabulary in id order.
 *
 * @example const id = sampleToken(logits, { temperature: 0.8, top_p: 0.95 }, seededPrng(7));
 */
export function sampleToken(
  logits: ArrayLike<number>,
  params: Pick<SamplingParams, "temperature" | "top_p">,
  rng: Prng,
): number {
  if (params.temperature === 0) return argmax(logits);
  const probs = softmax(logits, params.temperature);
  if (params.top_p >= 1) {
    let u = rng();
    for (let i = 0; i < probs.length; i++) {
      u -= probs[i] ?? 0;
      if (u < 0) return i;
    }
    return argmax(probs);
  }
  const { ids, mass } = nucleus(probs, params.top_p);
  let u = rng() * mass;
  for (const id of ids) {
    u -= probs[id] ?? 0;
    if (u < 0) return id;
  }
  return ids[ids.length - 1] ?? argmax(probs);
}

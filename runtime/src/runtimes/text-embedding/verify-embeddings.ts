import { decodeEmbedding, type EmbedResult } from "@ncn/protocol";

/**
 * Least cosine similarity between a claimed vector and the validator's own. Float32 runs
 * of one model differ across hardware in the last bits (summation order, fused
 * multiply-add, GPU kernels in TF32 or float16): a relative error up to ~1e-3 per
 * component, which for unit vectors costs a cosine of about 1 - 5e-7. 0.999 (an angle of
 * 2.6 degrees) leaves three orders of magnitude for that drift, while a vector of the
 * text without its last word, or of another text, lands far lower (see the tests).
 */
export const DEFAULT_MIN_COSINE = 0.999;

/** Largest relative difference of vector lengths (normalised vectors must stay unit length). */
export const DEFAULT_MAX_NORM_DRIFT = 1e-3;

export interface VerifyEmbeddingsOptions {
  /** Least cosine per vector (default `DEFAULT_MIN_COSINE`). */
  minCosine?: number;
  /** Largest relative difference of lengths (default `DEFAULT_MAX_NORM_DRIFT`). */
  maxNormDrift?: number;
}

/** What a validator concludes from comparing an agent's embeddings with its own. */
export type EmbeddingVerdict =
  | { ok: true; minCosine: number }
  | {
      ok: false;
      reason:
        | "count_mismatch"
        | "dims_mismatch"
        | "tokens_mismatch"
        | "malformed"
        | "not_finite"
        | "diverged"
        | "scale_mismatch";
      /** The first vector at fault, when one is. */
      index?: number;
      /** Its cosine with the recomputed vector, for `diverged`. */
      cosine?: number;
      message: string;
    };

/**
 * Compares a claimed embedding result with vectors recomputed from the same texts: the
 * same number of vectors, dims and token count (tokenizing is exact), and every vector
 * within `minCosine` of the recomputed one and of about its length. Never compared by hash:
 * the float bits differ across hardware.
 *
 * @example
 * const mine = await runtime.embed(model, pipeline, texts, context);
 * const verdict = verifyEmbeddings(claimed, mine);
 * if (!verdict.ok) reject(verdict.reason);
 */
export function verifyEmbeddings(
  claimed: EmbedResult,
  recomputed: { vectors: readonly Float32Array[]; dims: number; tokens: readonly number[] },
  options: VerifyEmbeddingsOptions = {},
): EmbeddingVerdict {
  const minCosine = options.minCosine ?? DEFAULT_MIN_COSINE;
  const maxNormDrift = options.maxNormDrift ?? DEFAULT_MAX_NORM_DRIFT;
  if (claimed.embeddings.length !== recomputed.vectors.length) {
    return {
      ok: false,
      reason: "count_mismatch",
      message: `${claimed.embeddings.length} vectors claimed for ${recomputed.vectors.length} texts`,
    };
  }
  if (claimed.dims !== recomputed.dims) {
    return {
      ok: false,
      reason: "dims_mismatch",
      message: `${claimed.dims} dims claimed, the model gives ${recomputed.dims}`,
    };
  }
  const tokens = recomputed.tokens.reduce((a, b) => a + b, 0);
  if (claimed.promptTokens !== tokens) {
    return {
      ok: false,
      reason: "tokens_mismatch",
      message: `${claimed.promptTokens} tokens claimed, the texts have ${tokens}`,
    };
  }
  let least = 1;
  for (const [index, encoded] of claimed.embeddings.entries()) {
    let vector: Float32Array;
    try {
      vector = decodeEmbedding(encoded, claimed.dims);
    } catch {
      return {
        ok: false,
        reason: "malformed",
        index,
        message: `vector ${index} is not ${claimed.dims} float32`,
      };
    }
    if (!vector.every(Number.isFinite)) {
      return { ok: false, reason: "not_finite", index, message: `vector ${index} holds NaN or infinity` };
    }
    const mine = recomputed.vectors[index] ?? new Float32Array(claimed.dims);
    const { cosine, norm, mineNorm } = compare(vector, mine);
    if (Math.abs(norm - mineNorm) > maxNormDrift * Math.max(mineNorm, Number.MIN_VALUE)) {
      return {
        ok: false,
        reason: "scale_mismatch",
        index,
        message: `vector ${index} has length ${norm}, the recomputed one ${mineNorm}`,
      };
    }
    if (!(cosine >= minCosine)) {
      return {
        ok: false,
        reason: "diverged",
        index,
        cosine,
        message: `vector ${index} has cosine ${cosine.toFixed(6)} with the recomputed one (least ${minCosine})`,
      };
    }
    least = Math.min(least, cosine);
  }
  return { ok: true, minCosine: least };
}

/** Cosine and lengths, in float64; two zero vectors count as equal (cosine 1). */
function compare(a: Float32Array, b: Float32Array): { cosine: number; norm: number; mineNorm: number } {
  let dot = 0;
  let aa = 0;
  let bb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    aa += x * x;
    bb += y * y;
  }
  const norm = Math.sqrt(aa);
  const mineNorm = Math.sqrt(bb);
  if (norm === 0 && mineNorm === 0) return { cosine: 1, norm, mineNorm };
  if (norm === 0 || mineNorm === 0) return { cosine: 0, norm, mineNorm };
  return { cosine: dot / (norm * mineNorm), norm, mineNorm };
}

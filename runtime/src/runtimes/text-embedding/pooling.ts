/**
 * Mean of each row's token vectors over the positions its attention mask keeps:
 * `hidden` is [batch, sequence, dims] row-major, `lengths[b]` the number of real tokens of
 * row b (its mask is 1 for the first `lengths[b]` positions, padding after). A row with no
 * tokens gives the zero vector.
 *
 * @example meanPool(new Float32Array([1, 2, 3, 4]), 1, 2, 2, [2]) // [Float32Array [2, 3]]
 */
export function meanPool(
  hidden: Float32Array,
  batch: number,
  sequence: number,
  dims: number,
  lengths: readonly number[],
): Float32Array[] {
  const out: Float32Array[] = [];
  for (let b = 0; b < batch; b++) {
    const n = Math.min(lengths[b] ?? 0, sequence);
    // Summed in float64: the order of float32 additions would otherwise show in the last bits.
    const sum = new Float64Array(dims);
    for (let t = 0; t < n; t++) {
      const base = (b * sequence + t) * dims;
      for (let d = 0; d < dims; d++) sum[d] = (sum[d] ?? 0) + (hidden[base + d] ?? 0);
    }
    const mean = new Float32Array(dims);
    for (let d = 0; d < dims; d++) mean[d] = n === 0 ? 0 : (sum[d] ?? 0) / n;
    out.push(mean);
  }
  return out;
}

/** `vector` scaled to unit L2 norm (the zero vector stays zero). */
export function l2Normalize(vector: Float32Array): Float32Array {
  let squares = 0;
  for (const x of vector) squares += x * x;
  const norm = Math.sqrt(squares);
  const out = new Float32Array(vector.length);
  if (norm === 0) return out;
  for (let i = 0; i < vector.length; i++) out[i] = (vector[i] ?? 0) / norm;
  return out;
}

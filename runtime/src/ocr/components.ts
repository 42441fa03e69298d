import type { Point } from "./geometry.ts";

export interface Component {
  /** Pixel count. */
  area: number;
  /** The leftmost and rightmost pixel centre of every row it spans: enough for its hull. */
  extremes: Point[];
}

/**
 * 8-connected components of a binary mask. For each, keeps only what box fitting
 * needs: the extreme pixels of each row (the outer contour's hull is theirs).
 */
export function connectedComponents(
  mask: Uint8Array,
  width: number,
  height: number,
  maxComponents = 1000,
): Component[] {
  const seen = new Uint8Array(mask.length);
  const stack = new Int32Array(mask.length);
  const rowMin = new Int32Array(height);
  const rowMax = new Int32Array(height);
  const rowStamp = new Int32Array(height).fill(-1);
  const out: Component[] = [];
  for (let start = 0; start < mask.length && out.length < maxComponents; start++) {
    if (!mask[start] || seen[start]) continue;
    const id = out.length;
    let top = 0;
    stack[top++] = start;
    seen[start] = 1;
    let area = 0;
    let minY = height;
    let maxY = -1;
    while (top > 0) {
      const p = stack[--top] as number;
      area++;
      const y = (p / width) | 0;
      const x = p - y * width;
      if (y < minY) minY = y;
      if (y > maxY) maxY = y;
      if (rowStamp[y] !== id) {
        rowStamp[y] = id;
        rowMin[y] = x;
        rowMax[y] = x;
      } else if (x < (rowMin[y] as number)) rowMin[y] = x;
      else if (x > (rowMax[y] as number)) rowMax[y] = x;
      for (let dy = -1; dy <= 1; dy++) {
        const ny = y + dy;
        if (ny < 0 || ny >= height) continue;
        for (let dx = -1; dx <= 1; dx++) {
          const nx = x + dx;
          if (nx < 0 || nx >= width || (dx === 0 && dy === 0)) continue;
          const q = ny * width + nx;
          if (mask[q] && !seen[q]) {
            seen[q] = 1;
            stack[top++] = q;
          }
        }
      }
    }
    const extremes: Point[] = [];
    for (let r = minY; r <= maxY; r++) {
      if (rowStamp[r] !== id) continue;
      const a = rowMin[r] as number;
      const b = rowMax[r] as number;
      extremes.push([a, r]);
      if (b !== a) extremes.push([b, r]);
    }
    out.push({ area, extremes });
  }
  return out;
}

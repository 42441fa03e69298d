import { connectedComponents } from "./components.ts";
import {
  distance,
  growRect,
  insideConvexQuad,
  minAreaRect,
  orderQuad,
  type Point,
  type Quad,
  rectCorners,
} from "./geometry.ts";
import { type RgbImage, resizeBilinear } from "./image.ts";

export interface DetParams {
  /** Longest side the detector sees; larger images are scaled down. */
  limitSideLen: number;
  /** Probability above which a pixel is text. */
  thresh: number;
  /** Least mean probability inside a box to keep it. */
  boxThresh: number;
  /** How far boxes grow past the shrunk text kernels the model predicts. */
  unclipRatio: number;
  maxCandidates: number;
  minSize: number;
}

export const DEFAULT_DET_PARAMS: DetParams = {
  limitSideLen: 960,
  thresh: 0.3,
  boxThresh: 0.6,
  unclipRatio: 2,
  maxCandidates: 1000,
  minSize: 3,
};

// ImageNet statistics, in the B, G, R channel order the models were trained with.
const MEAN = [0.406, 0.456, 0.485];
const STD = [0.225, 0.224, 0.229];
const BGR = [2, 1, 0];

export interface DetInput {
  tensor: Float32Array;
  width: number;
  height: number;
}

/**
 * Scales the image so its longest side is at most `limitSideLen` and both sides are
 * multiples of 32 (the detector's stride), then normalises it into a 1x3xHxW tensor.
 */
export function prepareDetInput(img: RgbImage, limitSideLen: number): DetInput {
  const longest = Math.max(img.width, img.height);
  const ratio = longest > limitSideLen ? limitSideLen / longest : 1;
  const height = Math.max(Math.round((img.height * ratio) / 32) * 32, 32);
  const width = Math.max(Math.round((img.width * ratio) / 32) * 32, 32);
  const resized = resizeBilinear(img, width, height);
  const n = width * height;
  const tensor = new Float32Array(3 * n);
  const d = resized.data;
  for (let c = 0; c < 3; c++) {
    const src = BGR[c] as number;
    const mean = MEAN[c] as number;
    const std = STD[c] as number;
    const base = c * n;
    for (let i = 0; i < n; i++) tensor[base + i] = ((d[i * 3 + src] as number) / 255 - mean) / std;
  }
  return { tensor, width, height };
}

export interface DetBox {
  box: Quad;
  score: number;
}

/** Mean probability inside the quad, over the pixels of its bounding box. */
function boxScore(prob: Float32Array, width: number, height: number, q: Quad): number {
  const xs = q.map((p) => p[0]);
  const ys = q.map((p) => p[1]);
  const x0 = Math.max(0, Math.floor(Math.min(...xs)));
  const x1 = Math.min(width - 1, Math.ceil(Math.max(...xs)));
  const y0 = Math.max(0, Math.floor(Math.min(...ys)));
  const y1 = Math.min(height - 1, Math.ceil(Math.max(...ys)));
  let sum = 0;
  let count = 0;
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      if (!insideConvexQuad(q, [x, y])) continue;
      sum += prob[y * width + x] as number;
      count++;
    }
  }
  return count === 0 ? 0 : sum / count;
}

/**
 * Turns the detector's probability map into text boxes: threshold, connected regions,
 * minimum-area rectangles, box score, unclip (grow by area x ratio / perimeter), then
 * scale back to the source image.
 */
export function boxesFromProbabilityMap(
  prob: Float32Array,
  mapWidth: number,
  mapHeight: number,
  srcWidth: number,
  srcHeight: number,
  params: DetParams = DEFAULT_DET_PARAMS,
): DetBox[] {
  const mask = new Uint8Array(prob.length);
  for (let i = 0; i < prob.length; i++) mask[i] = (prob[i] as number) > params.thresh ? 1 : 0;
  const out: DetBox[] = [];
  const sx = srcWidth / mapWidth;
  const sy = srcHeight / mapHeight;
  for (const comp of connectedComponents(mask, mapWidth, mapHeight, params.maxCandidates)) {
    const rect = minAreaRect(comp.extremes);
    if (Math.min(rect.width, rect.height) < params.minSize) continue;
    const quad = orderQuad(rectCorners(rect));
    const score = boxScore(prob, mapWidth, mapHeight, quad);
    if (score < params.boxThresh) continue;
    const area = rect.width * rect.height;
    const perimeter = 2 * (rect.width + rect.height);
    const grown = growRect(rect, (area * params.unclipRatio) / perimeter);
    if (Math.min(grown.width, grown.height) < params.minSize + 2) continue;
    const scaled = orderQuad(rectCorners(grown)).map(
      ([x, y]): Point => [
        Math.min(Math.max(Math.round(x * sx), 0), srcWidth - 1),
        Math.min(Math.max(Math.round(y * sy), 0), srcHeight - 1),
      ],
    ) as Quad;
    if (distance(scaled[0], scaled[1]) <= 3 || distance(scaled[0], scaled[3]) <= 3) continue;
    out.push({ box: scaled, score });
  }
  return sortReadingOrder(out);
}

/** Top to bottom, then left to right for boxes on the same line (within 10 px). */
export function sortReadingOrder<T extends { box: Quad }>(boxes: T[]): T[] {
  const s = [...boxes].sort((a, b) => a.box[0][1] - b.box[0][1] || a.box[0][0] - b.box[0][0]);
  for (let i = 0; i < s.length - 1; i++) {
    for (let j = i; j >= 0; j--) {
      const a = s[j] as T;
      const b = s[j + 1] as T;
      if (Math.abs(b.box[0][1] - a.box[0][1]) < 10 && b.box[0][0] < a.box[0][0]) {
        s[j] = b;
        s[j + 1] = a;
      } else break;
    }
  }
  return s;
}

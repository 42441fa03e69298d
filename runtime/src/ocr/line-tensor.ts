import { type RgbImage, resizeBilinear } from "./image.ts";

const BGR = [2, 1, 0];

/**
 * Writes a text-line crop into slot `index` of an Nx3xHxW batch tensor: scaled to
 * height H keeping its aspect ratio (at most W wide), values mapped to [-1, 1],
 * right side left at zero padding.
 */
export function writeLineTensor(
  batch: Float32Array,
  index: number,
  img: RgbImage,
  height: number,
  width: number,
): void {
  const ratio = img.width / img.height;
  const w = Math.min(width, Math.max(1, Math.ceil(height * ratio)));
  const resized = resizeBilinear(img, w, height);
  const plane = height * width;
  const base = index * 3 * plane;
  const d = resized.data;
  for (let c = 0; c < 3; c++) {
    const src = BGR[c] as number;
    const cb = base + c * plane;
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < w; x++) {
        batch[cb + y * width + x] = ((d[(y * w + x) * 3 + src] as number) / 255 - 0.5) / 0.5;
      }
    }
  }
}

/**
 * Cuts a text line, scaled to `height`, into windows `width` wide that together cover
 * it (overlapping evenly), so a classifier with a fixed input width sees the glyphs
 * undistorted instead of a whole line squeezed into its input.
 */
export function lineWindows(img: RgbImage, height: number, width: number): RgbImage[] {
  const full = Math.max(1, Math.ceil((height * img.width) / img.height));
  const line = resizeBilinear(img, full, height);
  if (full <= width) return [line];
  const n = Math.ceil(full / width);
  const windows: RgbImage[] = [];
  for (let i = 0; i < n; i++) {
    const x0 = Math.round((i * (full - width)) / (n - 1));
    const data = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++) {
      data.set(line.data.subarray((y * full + x0) * 3, (y * full + x0 + width) * 3), y * width * 3);
    }
    windows.push({ width, height, data });
  }
  return windows;
}

import { distance, type Quad } from "./geometry.ts";
import { type RgbImage, rotate90ccw } from "./image.ts";

/**
 * Cuts the quad out of the image as an upright rectangle (bilinear sampling, edges
 * replicated). Crops much taller than wide are turned a quarter turn, since text
 * lines are read horizontally.
 */
export function cropQuad(img: RgbImage, q: Quad): RgbImage {
  const [p0, p1, p2, p3] = q;
  const w = Math.max(1, Math.floor(Math.max(distance(p0, p1), distance(p2, p3))));
  const h = Math.max(1, Math.floor(Math.max(distance(p0, p3), distance(p1, p2))));
  // Affine map of the destination rectangle onto the quad's top-left, top-right and
  // bottom-left corners (the quads here are rectangles).
  const ax = (p1[0] - p0[0]) / w;
  const ay = (p1[1] - p0[1]) / w;
  const bx = (p3[0] - p0[0]) / h;
  const by = (p3[1] - p0[1]) / h;
  const out = new Uint8Array(w * h * 3);
  const maxX = img.width - 1;
  const maxY = img.height - 1;
  const row = img.width * 3;
  const d = img.data;
  let o = 0;
  for (let v = 0; v < h; v++) {
    for (let u = 0; u < w; u++) {
      const sx = Math.min(Math.max(p0[0] + u * ax + v * bx, 0), maxX);
      const sy = Math.min(Math.max(p0[1] + u * ay + v * by, 0), maxY);
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const x1 = Math.min(x0 + 1, maxX);
      const y1 = Math.min(y0 + 1, maxY);
      const fx = sx - x0;
      const fy = sy - y0;
      const i00 = y0 * row + x0 * 3;
      const i01 = y0 * row + x1 * 3;
      const i10 = y1 * row + x0 * 3;
      const i11 = y1 * row + x1 * 3;
      for (let c = 0; c < 3; c++) {
        const top = (d[i00 + c] as number) * (1 - fx) + (d[i01 + c] as number) * fx;
        const bot = (d[i10 + c] as number) * (1 - fx) + (d[i11 + c] as number) * fx;
        out[o++] = Math.round(top * (1 - fy) + bot * fy);
      }
    }
  }
  const crop = { width: w, height: h, data: out };
  return h / w >= 1.5 ? rotate90ccw(crop) : crop;
}

import { RuntimeError } from "../errors.ts";
import { loadSharp } from "./sharp.ts";

/** An 8-bit RGB raster, row-major, 3 bytes per pixel. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Largest image accepted, in pixels (about 40 megapixels). */
export const MAX_IMAGE_PIXELS = 40_000_000;

/**
 * Decodes a PNG or JPEG to RGB: EXIF orientation applied, transparency flattened on
 * white. Anything else, or a corrupt file, is an `INVALID_INPUT`.
 */
export async function decodeImage(bytes: Uint8Array): Promise<RgbImage> {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (!isPng && !isJpeg) throw new RuntimeError("INVALID_INPUT", "image must be a PNG or a JPEG");
  const sharp = await loadSharp();
  try {
    const { data, info } = await sharp(bytes, { limitInputPixels: MAX_IMAGE_PIXELS })
      .rotate()
      .flatten({ background: "#ffffff" })
      .toColourspace("srgb")
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoded ${info.channels} channels`);
    return {
      width: info.width,
      height: info.height,
      data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    };
  } catch (e) {
    throw new RuntimeError("INVALID_INPUT", `image cannot be decoded: ${(e as Error).message}`, { cause: e });
  }
}

/**
 * Bilinear resize with pixel centres aligned (the usual image-library convention), so
 * the result does not shift by half a pixel.
 */
export function resizeBilinear(src: RgbImage, width: number, height: number): RgbImage {
  const out = new Uint8Array(width * height * 3);
  const sx = src.width / width;
  const sy = src.height / height;
  const maxX = src.width - 1;
  const maxY = src.height - 1;
  const x0s = new Int32Array(width);
  const x1s = new Int32Array(width);
  const fxs = new Float32Array(width);
  for (let x = 0; x < width; x++) {
    const fx = Math.min(Math.max((x + 0.5) * sx - 0.5, 0), maxX);
    const x0 = Math.floor(fx);
    x0s[x] = x0 * 3;
    x1s[x] = Math.min(x0 + 1, maxX) * 3;
    fxs[x] = fx - x0;
  }
  const d = src.data;
  const rowBytes = src.width * 3;
  for (let y = 0; y < height; y++) {
    const fy = Math.min(Math.max((y + 0.5) * sy - 0.5, 0), maxY);
    const y0 = Math.floor(fy);
    const wy = fy - y0;
    const r0 = y0 * rowBytes;
    const r1 = Math.min(y0 + 1, maxY) * rowBytes;
    let o = y * width * 3;
    for (let x = 0; x < width; x++) {
      const a = x0s[x] as number;
      const b = x1s[x] as number;
      const wx = fxs[x] as number;
      for (let c = 0; c < 3; c++) {
        const top = (d[r0 + a + c] as number) * (1 - wx) + (d[r0 + b + c] as number) * wx;
        const bot = (d[r1 + a + c] as number) * (1 - wx) + (d[r1 + b + c] as number) * wx;
        out[o++] = Math.round(top * (1 - wy) + bot * wy);
      }
    }
  }
  return { width, height, data: out };
}

/** The image turned upside down. */
export function rotate180(src: RgbImage): RgbImage {
  const n = src.width * src.height;
  const out = new Uint8Array(n * 3);
  for (let i = 0; i < n; i++) {
    const j = (n - 1 - i) * 3;
    out[i * 3] = src.data[j] as number;
    out[i * 3 + 1] = src.data[j + 1] as number;
    out[i * 3 + 2] = src.data[j + 2] as number;
  }
  return { width: src.width, height: src.height, data: out };
}

/** The image turned a quarter turn counter-clockwise (a tall crop becomes a wide line). */
export function rotate90ccw(src: RgbImage): RgbImage {
  const { width: w, height: h } = src;
  const out = new Uint8Array(w * h * 3);
  // New image is h wide and w tall: new(x', y') = old(w - 1 - y', x').
  for (let ny = 0; ny < w; ny++) {
    for (let nx = 0; nx < h; nx++) {
      const s = (nx * w + (w - 1 - ny)) * 3;
      const o = (ny * h + nx) * 3;
      out[o] = src.data[s] as number;
      out[o + 1] = src.data[s + 1] as number;
      out[o + 2] = src.data[s + 2] as number;
    }
  }
  return { width: h, height: w, data: out };
}

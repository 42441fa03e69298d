import { createCanvas, GlobalFonts } from "@napi-rs/canvas";
import { resolveNpmSource } from "../store/npm-source.ts";

/** Fonts shipped in npm packages, so rendering does not depend on the system's fonts. */
export const TEST_FONTS = {
  sans: {
    family: "NCN Test Sans",
    source: "npm:@fontsource/dejavu-sans/files/dejavu-sans-latin-400-normal.woff",
  },
  mono: {
    family: "NCN Test Mono",
    source: "npm:@fontsource/roboto-mono/files/roboto-mono-latin-400-normal.woff",
  },
  serif: {
    family: "NCN Test Serif",
    source: "npm:@fontsource/source-serif-4/files/source-serif-4-latin-400-normal.woff",
  },
} as const;
export type TestFont = keyof typeof TEST_FONTS;

let registered = false;

function registerFonts(): void {
  if (registered) return;
  for (const f of Object.values(TEST_FONTS)) {
    const path = resolveNpmSource(f.source);
    if (!path) throw new Error(`font ${f.source} is not installed (npm ci at the repository root)`);
    GlobalFonts.registerFromPath(path, f.family);
  }
  registered = true;
}

export interface RenderOptions {
  lines: string[];
  font?: TestFont;
  size?: number;
  /** Turn the finished image upside down. */
  rotate180?: boolean;
  /** Blank margin around the text, in pixels. */
  margin?: number;
  format?: "png" | "jpeg";
}

/**
 * Renders lines of black text on white into a PNG or JPEG, for OCR tests with a known
 * answer.
 */
export function renderText(options: RenderOptions): Uint8Array {
  registerFonts();
  const size = options.size ?? 32;
  const margin = options.margin ?? Math.round(size * 1.2);
  const family = TEST_FONTS[options.font ?? "sans"].family;
  const measure = createCanvas(1, 1).getContext("2d");
  measure.font = `${size}px "${family}"`;
  const widest = Math.max(...options.lines.map((l) => measure.measureText(l).width));
  const lineHeight = Math.round(size * 1.9);
  const width = Math.ceil(widest + 2 * margin);
  const height = Math.ceil(options.lines.length * lineHeight + 2 * margin - (lineHeight - size * 1.3));
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, width, height);
  if (options.rotate180) {
    ctx.translate(width, height);
    ctx.rotate(Math.PI);
  }
  ctx.fillStyle = "#111111";
  ctx.font = `${size}px "${family}"`;
  ctx.textBaseline = "top";
  for (const [i, line] of options.lines.entries()) ctx.fillText(line, margin, margin + i * lineHeight);
  const mime = options.format === "jpeg" ? "image/jpeg" : "image/png";
  return new Uint8Array(
    mime === "image/jpeg" ? canvas.toBuffer("image/jpeg", 92) : canvas.toBuffer("image/png"),
  );
}

/** Levenshtein distance between two strings (by code point). */
export function editDistance(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  let prev = Array.from({ length: y.length + 1 }, (_, j) => j);
  for (let i = 1; i <= x.length; i++) {
    const cur = [i];
    for (let j = 1; j <= y.length; j++) {
      const sub = (prev[j - 1] as number) + (x[i - 1] === y[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] as number) + 1, (cur[j - 1] as number) + 1, sub));
    }
    prev = cur;
  }
  return prev[y.length] as number;
}

/** Character error rate of `actual` against `expected`: edits / expected length. */
export function characterErrorRate(expected: string, actual: string): number {
  return editDistance(expected, actual) / Math.max(1, [...expected].length);
}

import type { OcrLine } from "@ncn/protocol";

export interface OcrTolerance {
  /** Largest move of a box corner, in pixels, per coordinate. */
  boxPx: number;
  /** Largest difference of a line's confidence. */
  score: number;
}

/**
 * Whether an agent's OCR lines are what the validator read again: the same lines in the
 * same order with the same text, boxes and confidences within the tolerance. Returns why
 * not, or undefined when they agree.
 */
export function ocrLinesDiffer(
  expected: readonly OcrLine[],
  actual: readonly OcrLine[],
  tolerance: OcrTolerance,
): string | undefined {
  if (expected.length !== actual.length) {
    return `${actual.length} lines where re-execution found ${expected.length}`;
  }
  for (const [i, want] of expected.entries()) {
    const got = actual[i] as OcrLine;
    if (got.text !== want.text)
      return `line ${i} reads ${JSON.stringify(got.text)}, not ${JSON.stringify(want.text)}`;
    if (Math.abs(got.score - want.score) > tolerance.score) {
      return `line ${i} has confidence ${got.score}, re-execution ${want.score}`;
    }
    for (const [c, [x, y]] of want.box.entries()) {
      const [gx, gy] = got.box[c] as [number, number];
      if (Math.abs(gx - x) > tolerance.boxPx || Math.abs(gy - y) > tolerance.boxPx) {
        return `line ${i} box corner ${c} is at (${gx}, ${gy}), re-execution (${x}, ${y})`;
      }
    }
  }
  return undefined;
}

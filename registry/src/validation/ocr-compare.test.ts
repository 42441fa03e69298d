import { describe, expect, test } from "bun:test";
import type { OcrLine } from "@ncn/protocol";
import { ocrLinesDiffer } from "./ocr-compare.ts";

const line = (text: string, score = 0.98, dx = 0): OcrLine => ({
  text,
  score,
  box: [
    [10 + dx, 10],
    [110 + dx, 10],
    [110 + dx, 30],
    [10 + dx, 30],
  ],
});
const tol = { boxPx: 3, score: 0.05 };

describe("OCR spot-check comparison", () => {
  test("a pixel's move and a small confidence change agree; other text, lines, boxes or scores do not", () => {
    expect(ocrLinesDiffer([line("hello"), line("world")], [line("hello", 0.97, 2), line("world")], tol)).toBe(
      undefined,
    );
    expect(ocrLinesDiffer([line("hello")], [line("hallo")], tol)).toContain("line 0 reads");
    expect(ocrLinesDiffer([line("hello")], [line("hello"), line("extra")], tol)).toContain("2 lines");
    expect(ocrLinesDiffer([line("hello")], [line("hello", 0.98, 10)], tol)).toContain("box corner 0");
    expect(ocrLinesDiffer([line("hello")], [line("hello", 0.5)], tol)).toContain("confidence");
  });
});

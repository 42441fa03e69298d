import { describe, expect, test } from "bun:test";
import { charsetFromDictionary, ctcGreedyDecode } from "./ctc.ts";
import { boxesFromProbabilityMap, DEFAULT_DET_PARAMS, prepareDetInput, sortReadingOrder } from "./detect.ts";
import type { Quad } from "./geometry.ts";

describe("detection post-processing", () => {
  test("a confident rectangle becomes one box, grown and scaled back to the source", () => {
    const w = 64;
    const h = 32;
    const prob = new Float32Array(w * h);
    for (let y = 12; y < 18; y++) for (let x = 10; x < 50; x++) prob[y * w + x] = 0.9;
    // A faint blob below the box threshold is dropped.
    for (let y = 25; y < 29; y++) for (let x = 10; x < 30; x++) prob[y * w + x] = 0.4;
    const boxes = boxesFromProbabilityMap(prob, w, h, 128, 64);
    expect(boxes.length).toBe(1);
    const [tl, tr, br, bl] = (boxes[0] as { box: Quad }).box;
    expect(boxes[0]?.score).toBeCloseTo(0.9, 2);
    // Kernel 40x6 (pixel centres 39x5), unclip d = 39*5*2/(2*44) ~ 4.4, then x2 scale.
    expect(tl[0]).toBeLessThan(20);
    expect(tr[0]).toBeGreaterThan(98);
    expect(bl[1] - tl[1]).toBeGreaterThan(25);
    expect(br[1]).toBeLessThanOrEqual(63);
  });

  test("boxes come out in reading order", () => {
    const q = (x: number, y: number): { box: Quad } => ({
      box: [
        [x, y],
        [x + 10, y],
        [x + 10, y + 5],
        [x, y + 5],
      ],
    });
    const sorted = sortReadingOrder([q(50, 3), q(0, 40), q(0, 0)]);
    expect(sorted.map((b) => b.box[0])).toEqual([
      [0, 0],
      [50, 3],
      [0, 40],
    ]);
  });

  test("detector input is scaled to multiples of 32 within the side limit", () => {
    const img = { width: 1000, height: 50, data: new Uint8Array(1000 * 50 * 3).fill(255) };
    const input = prepareDetInput(img, DEFAULT_DET_PARAMS.limitSideLen);
    expect([input.width, input.height]).toEqual([960, 64]);
    expect(input.tensor.length).toBe(3 * 960 * 64);
    // White normalises to (1 - mean) / std in every channel.
    expect(input.tensor[0]).toBeCloseTo((1 - 0.406) / 0.225, 4);
  });
});

describe("CTC decoding", () => {
  test("collapses repeats, drops blanks and averages the kept probabilities", () => {
    const charset = charsetFromDictionary("a\nb\n");
    expect(charset).toEqual(["", "a", "b", " "]);
    // steps: a a blank a b space b
    const best = [1, 1, 0, 1, 2, 3, 2];
    const probs = new Float32Array(best.length * 4);
    best.forEach((k, t) => {
      for (let c = 0; c < 4; c++) probs[t * 4 + c] = c === k ? 0.8 : 0.2 / 3;
    });
    const r = ctcGreedyDecode(probs, 0, best.length, 4, charset);
    expect(r.text).toBe("aab b");
    expect(r.score).toBeCloseTo(0.8, 5);
  });
});

import { describe, expect, test } from "bun:test";
import { l2Normalize, meanPool } from "./pooling.ts";

describe("meanPool", () => {
  test("averages each row over its real tokens and ignores the padding", () => {
    // batch 2, sequence 3, dims 2; row 0 has 3 tokens, row 1 has 1 (then 2 padded).
    const hidden = new Float32Array([1, 2, 3, 4, 5, 6, 10, 20, 99, 99, 99, 99]);
    const [a, b] = meanPool(hidden, 2, 3, 2, [3, 1]);
    expect([...(a ?? [])]).toEqual([3, 4]);
    expect([...(b ?? [])]).toEqual([10, 20]);
  });

  test("a row without tokens pools to zero", () => {
    expect([...(meanPool(new Float32Array([5, 5]), 1, 1, 2, [0])[0] ?? [])]).toEqual([0, 0]);
  });
});

describe("l2Normalize", () => {
  test("scales to unit length and keeps zero at zero", () => {
    expect([...l2Normalize(new Float32Array([3, 4]))].map((x) => Math.round(x * 1e6) / 1e6)).toEqual([
      0.6, 0.8,
    ]);
    expect([...l2Normalize(new Float32Array([0, 0]))]).toEqual([0, 0]);
  });
});

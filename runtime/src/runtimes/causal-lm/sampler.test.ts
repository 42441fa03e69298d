import { describe, expect, test } from "bun:test";
import { argmax, nucleusSize, rankedProbs, sampleToken, seededPrng } from "./sampler.ts";

describe("seededPrng", () => {
  test("the same seed gives the same sequence, another seed another one", () => {
    const draw = (seed: number) => Array.from({ length: 8 }, seededPrng(seed));
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    for (const x of draw(7)) {
      expect(x).toBeGreaterThanOrEqual(0);
      expect(x).toBeLessThan(1);
    }
  });

  test("draws are spread evenly over [0, 1)", () => {
    const rng = seededPrng(1);
    const buckets = new Array(10).fill(0);
    for (let i = 0; i < 10_000; i++) buckets[Math.floor(rng() * 10)]++;
    for (const count of buckets) expect(Math.abs(count - 1000)).toBeLessThan(150);
  });
});

describe("sampleToken", () => {
  const logits = new Float32Array([1, 3, 2, 3, -1]);

  test("temperature 0 is the argmax, the lowest id among equals", () => {
    expect(argmax(logits)).toBe(1);
    expect(sampleToken(logits, { temperature: 0, top_p: 1 }, seededPrng(0))).toBe(1);
  });

  test("top_p keeps the fewest most probable tokens whose mass reaches it", () => {
    const ranked = rankedProbs(logits, 1);
    expect([...ranked.ids]).toEqual([1, 3, 2, 0, 4]);
    expect(nucleusSize(ranked, 0.5)).toBe(2);
    expect(nucleusSize(ranked, 1)).toBe(5);
    const rng = seededPrng(3);
    for (let i = 0; i < 200; i++)
      expect([1, 3]).toContain(sampleToken(logits, { temperature: 1, top_p: 0.5 }, rng));
  });

  test("draws follow the softmax at the temperature", () => {
    const rng = seededPrng(9);
    const counts = new Map<number, number>();
    for (let i = 0; i < 20_000; i++) {
      const id = sampleToken(new Float32Array([0, Math.log(3)]), { temperature: 1, top_p: 1 }, rng);
      counts.set(id, (counts.get(id) ?? 0) + 1);
    }
    expect((counts.get(1) ?? 0) / 20_000).toBeCloseTo(0.75, 1);
  });
});

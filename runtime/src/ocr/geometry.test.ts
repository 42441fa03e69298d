import { describe, expect, test } from "bun:test";
import { connectedComponents } from "./components.ts";
import {
  convexHull,
  growRect,
  insideConvexQuad,
  minAreaRect,
  orderQuad,
  type Point,
  padQuadVertically,
  type Quad,
  rectCorners,
} from "./geometry.ts";

function rotated(cx: number, cy: number, w: number, h: number, deg: number): Point[] {
  const a = (deg * Math.PI) / 180;
  const pts: Point[] = [];
  for (let u = -w / 2; u <= w / 2; u += 0.5) {
    for (let v = -h / 2; v <= h / 2; v += 0.5) {
      pts.push([cx + u * Math.cos(a) - v * Math.sin(a), cy + u * Math.sin(a) + v * Math.cos(a)]);
    }
  }
  return pts;
}

describe("geometry", () => {
  test("convex hull drops interior and collinear points", () => {
    const hull = convexHull([
      [0, 0],
      [2, 0],
      [1, 0],
      [2, 2],
      [0, 2],
      [1, 1],
    ]);
    expect(hull.length).toBe(4);
    expect(hull).toContainEqual([2, 2] as Point);
    expect(hull).not.toContainEqual([1, 1] as Point);
    expect(hull).not.toContainEqual([1, 0] as Point);
  });

  test("minimum-area rectangle recovers a rotated rectangle's size and centre", () => {
    for (const deg of [0, 17, 45, 80]) {
      const r = minAreaRect(rotated(50, 40, 30, 10, deg));
      const [long, short] = r.width >= r.height ? [r.width, r.height] : [r.height, r.width];
      expect(long).toBeCloseTo(30, 1);
      expect(short).toBeCloseTo(10, 1);
      expect(r.center[0]).toBeCloseTo(50, 1);
      expect(r.center[1]).toBeCloseTo(40, 1);
    }
  });

  test("corners are ordered top-left, top-right, bottom-right, bottom-left", () => {
    const q = orderQuad([
      [10, 20],
      [0, 0],
      [10, 0],
      [0, 20],
    ]);
    expect(q).toEqual([
      [0, 0],
      [10, 0],
      [10, 20],
      [0, 20],
    ]);
    const slanted = orderQuad(rectCorners(minAreaRect(rotated(0, 0, 40, 8, 10))));
    expect(slanted[0][0]).toBeLessThan(slanted[1][0]);
    expect(slanted[3][1]).toBeGreaterThan(slanted[0][1]);
  });

  test("growRect grows every side by d; padQuadVertically only the height", () => {
    const r = growRect({ center: [0, 0], axis: [1, 0], width: 10, height: 4 }, 3);
    expect([r.width, r.height]).toEqual([16, 10]);
    const q: Quad = [
      [0, 0],
      [10, 0],
      [10, 4],
      [0, 4],
    ];
    expect(padQuadVertically(q, 0.5)).toEqual([
      [0, -2],
      [10, -2],
      [10, 6],
      [0, 6],
    ]);
    expect(insideConvexQuad(q, [5, 2])).toBe(true);
    expect(insideConvexQuad(q, [10, 4])).toBe(true);
    expect(insideConvexQuad(q, [11, 2])).toBe(false);
  });
});

describe("connectedComponents", () => {
  test("separates 8-connected blobs and keeps each row's extreme pixels", () => {
    const w = 8;
    const rows = ["11000000", "01100011", "00000011", "10000000"];
    const mask = Uint8Array.from(rows.join(""), (c) => (c === "1" ? 1 : 0));
    const comps = connectedComponents(mask, w, rows.length);
    expect(comps.map((c) => c.area)).toEqual([4, 4, 1]);
    expect(comps[0]?.extremes).toEqual([
      [0, 0],
      [1, 0],
      [1, 1],
      [2, 1],
    ]);
    expect(connectedComponents(mask, w, rows.length, 2).length).toBe(2);
  });
});

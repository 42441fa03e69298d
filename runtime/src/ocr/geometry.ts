export type Point = [number, number];
/** Four corners, clockwise from top-left in image coordinates (y down). */
export type Quad = [Point, Point, Point, Point];

function cross(o: Point, a: Point, b: Point): number {
  return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]);
}

/** Convex hull (monotone chain), counter-clockwise in a y-up frame, no collinear points. */
export function convexHull(points: readonly Point[]): Point[] {
  const pts = [...points].sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  if (pts.length <= 2) return pts;
  const lower: Point[] = [];
  for (const p of pts) {
    while (
      lower.length >= 2 &&
      cross(lower[lower.length - 2] as Point, lower[lower.length - 1] as Point, p) <= 0
    )
      lower.pop();
    lower.push(p);
  }
  const upper: Point[] = [];
  for (let i = pts.length - 1; i >= 0; i--) {
    const p = pts[i] as Point;
    while (
      upper.length >= 2 &&
      cross(upper[upper.length - 2] as Point, upper[upper.length - 1] as Point, p) <= 0
    )
      upper.pop();
    upper.push(p);
  }
  lower.pop();
  upper.pop();
  return lower.concat(upper);
}

export interface RotatedRect {
  center: Point;
  /** Unit vector along the `width` side. */
  axis: Point;
  width: number;
  height: number;
}

/**
 * Minimum-area enclosing rectangle of a point set: one side of the optimal rectangle
 * lies on a hull edge, so every hull edge direction is tried.
 */
export function minAreaRect(points: readonly Point[]): RotatedRect {
  const hull = convexHull(points);
  if (hull.length === 0) return { center: [0, 0], axis: [1, 0], width: 0, height: 0 };
  if (hull.length === 1) {
    const p = hull[0] as Point;
    return { center: [p[0], p[1]], axis: [1, 0], width: 0, height: 0 };
  }
  let best: RotatedRect | undefined;
  let bestArea = Number.POSITIVE_INFINITY;
  for (let i = 0; i < hull.length; i++) {
    const a = hull[i] as Point;
    const b = hull[(i + 1) % hull.length] as Point;
    const len = Math.hypot(b[0] - a[0], b[1] - a[1]);
    if (len === 0) continue;
    const ux = (b[0] - a[0]) / len;
    const uy = (b[1] - a[1]) / len;
    let minU = Number.POSITIVE_INFINITY;
    let maxU = Number.NEGATIVE_INFINITY;
    let minV = Number.POSITIVE_INFINITY;
    let maxV = Number.NEGATIVE_INFINITY;
    for (const p of hull) {
      const u = p[0] * ux + p[1] * uy;
      const v = -p[0] * uy + p[1] * ux;
      if (u < minU) minU = u;
      if (u > maxU) maxU = u;
      if (v < minV) minV = v;
      if (v > maxV) maxV = v;
    }
    const area = (maxU - minU) * (maxV - minV);
    if (area < bestArea - 1e-9) {
      bestArea = area;
      const cu = (minU + maxU) / 2;
      const cv = (minV + maxV) / 2;
      best = {
        center: [cu * ux - cv * uy, cu * uy + cv * ux],
        axis: [ux, uy],
        width: maxU - minU,
        height: maxV - minV,
      };
    }
  }
  return best ?? { center: hull[0] as Point, axis: [1, 0], width: 0, height: 0 };
}

/** The four corners of a rotated rectangle, in no particular order. */
export function rectCorners(r: RotatedRect): Point[] {
  const [ux, uy] = r.axis;
  const hw = r.width / 2;
  const hh = r.height / 2;
  const [cx, cy] = r.center;
  return [
    [cx - ux * hw + uy * hh, cy - uy * hw - ux * hh],
    [cx + ux * hw + uy * hh, cy + uy * hw - ux * hh],
    [cx + ux * hw - uy * hh, cy + uy * hw + ux * hh],
    [cx - ux * hw - uy * hh, cy - uy * hw + ux * hh],
  ];
}

/**
 * Orders four corners as top-left, top-right, bottom-right, bottom-left: the two with
 * the smallest x form the left side, and on each side the smaller y is the top.
 */
export function orderQuad(corners: readonly Point[]): Quad {
  const s = [...corners].sort((a, b) => a[0] - b[0]);
  const [l0, l1, r0, r1] = s as [Point, Point, Point, Point];
  const [tl, bl] = l0[1] <= l1[1] ? [l0, l1] : [l1, l0];
  const [tr, br] = r0[1] <= r1[1] ? [r0, r1] : [r1, r0];
  return [tl, tr, br, bl];
}

/**
 * Grows a rectangle by `d` on every side. Offsetting a rectangle outward with round
 * joins and taking the minimum-area rectangle of the result gives exactly this.
 */
export function growRect(r: RotatedRect, d: number): RotatedRect {
  return { ...r, width: r.width + 2 * d, height: r.height + 2 * d };
}

export function distance(a: Point, b: Point): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1]);
}

/** Is `p` inside (or on the edge of) the convex quadrilateral `q`? */
export function insideConvexQuad(q: Quad, p: Point): boolean {
  let sign = 0;
  for (let i = 0; i < 4; i++) {
    const c = cross(q[i] as Point, q[(i + 1) % 4] as Point, p);
    if (Math.abs(c) < 1e-9) continue;
    const s = c > 0 ? 1 : -1;
    if (sign === 0) sign = s;
    else if (s !== sign) return false;
  }
  return true;
}

/**
 * Widens a quad across its text direction by `k` times its height on each side (top
 * edge moved up, bottom edge down), keeping its length.
 */
export function padQuadVertically(q: Quad, k: number): Quad {
  const [p0, p1, p2, p3] = q;
  const dx = ((p3[0] - p0[0] + p2[0] - p1[0]) / 2) * k;
  const dy = ((p3[1] - p0[1] + p2[1] - p1[1]) / 2) * k;
  return [
    [p0[0] - dx, p0[1] - dy],
    [p1[0] - dx, p1[1] - dy],
    [p2[0] + dx, p2[1] + dy],
    [p3[0] + dx, p3[1] + dy],
  ];
}

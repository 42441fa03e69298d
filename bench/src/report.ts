import type { SweepPoint } from "./network/bench-network.ts";

/** An SVG line chart of throughput (left axis) and p99 latency (right axis) against concurrency. */
export function sweepSvg(sweep: readonly SweepPoint[]): string {
  const W = 640;
  const H = 360;
  const m = { l: 60, r: 60, t: 30, b: 50 };
  const xs = sweep.map((s) => Math.log2(s.concurrency));
  const xMax = Math.max(1, ...xs);
  const rpsMax = Math.max(1, ...sweep.map((s) => s.rps)) * 1.1;
  const p99Max = Math.max(1, ...sweep.map((s) => s.p99)) * 1.1;
  const x = (v: number) => m.l + (v / xMax) * (W - m.l - m.r);
  const yL = (v: number) => H - m.b - (v / rpsMax) * (H - m.t - m.b);
  const yR = (v: number) => H - m.b - (v / p99Max) * (H - m.t - m.b);
  const line = (pts: [number, number][], color: string) =>
    `<polyline fill="none" stroke="${color}" stroke-width="2" points="${pts.map(([a, b]) => `${a.toFixed(1)},${b.toFixed(1)}`).join(" ")}"/>` +
    pts.map(([a, b]) => `<circle cx="${a.toFixed(1)}" cy="${b.toFixed(1)}" r="3" fill="${color}"/>`).join("");
  const rps = sweep.map((s, i) => [x(xs[i] ?? 0), yL(s.rps)] as [number, number]);
  const p99 = sweep.map((s, i) => [x(xs[i] ?? 0), yR(s.p99)] as [number, number]);
  const ticks = sweep
    .map(
      (s, i) =>
        `<text x="${x(xs[i] ?? 0).toFixed(1)}" y="${H - m.b + 18}" text-anchor="middle">${s.concurrency}</text>`,
    )
    .join("");
  const yTicks = [0, 0.25, 0.5, 0.75, 1]
    .map(
      (f) =>
        `<text x="${m.l - 6}" y="${yL(rpsMax * f) + 4}" text-anchor="end">${(rpsMax * f).toFixed(0)}</text>` +
        `<text x="${W - m.r + 6}" y="${yR(p99Max * f) + 4}">${(p99Max * f).toFixed(0)}</text>` +
        `<line x1="${m.l}" x2="${W - m.r}" y1="${yL(rpsMax * f)}" y2="${yL(rpsMax * f)}" stroke="#eee"/>`,
    )
    .join("");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">
<rect width="${W}" height="${H}" fill="white"/>
<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">Tiny model through the network: throughput and p99 latency vs concurrency</text>
${yTicks}
<line x1="${m.l}" y1="${H - m.b}" x2="${W - m.r}" y2="${H - m.b}" stroke="#333"/>
${ticks}
<text x="${W / 2}" y="${H - 12}" text-anchor="middle">requests in flight (log scale)</text>
<text x="14" y="${H / 2}" transform="rotate(-90 14 ${H / 2})" text-anchor="middle" fill="#1f77b4">requests/s</text>
<text x="${W - 14}" y="${H / 2}" transform="rotate(90 ${W - 14} ${H / 2})" text-anchor="middle" fill="#d62728">p99 latency (ms)</text>
${line(rps, "#1f77b4")}
${line(p99, "#d62728")}
</svg>
`;
}

export function markdownReport(
  results: Record<string, number>,
  sweep: readonly SweepPoint[],
  goals: { name: string; value: number; goal: string; ok: boolean }[],
  meta: { at: string; quick: boolean },
): string {
  const rows = Object.entries(results)
    .map(([k, v]) => `| ${k} | ${Number.isInteger(v) ? v : v.toFixed(3)} |`)
    .join("\n");
  const sweepRows = sweep
    .map(
      (s) =>
        `| ${s.concurrency} | ${s.rps.toFixed(1)} | ${s.p50.toFixed(1)} | ${s.p99.toFixed(1)} | ${s.errors} |`,
    )
    .join("\n");
  const goalRows = goals
    .map(
      (g) =>
        `| ${g.name} | ${Number.isFinite(g.value) ? g.value.toFixed(2) : "n/a"} | ${g.goal} | ${g.ok ? "met" : "not met"} |`,
    )
    .join("\n");
  return `# NCN benchmark report

Run ${meta.at}${meta.quick ? " (quick mode)" : ""} on this machine; every figure is measured against its
baseline in the same run. Produced by \`npm run bench\`.

## Goals

| figure | measured | goal | |
|---|---|---|---|
${goalRows}

## Throughput sweep (tiny model, session vouchers, validation on)

![throughput and p99 latency vs concurrency](sweep.svg)

| in flight | requests/s | p50 ms | p99 ms | errors |
|---|---|---|---|---|
${sweepRows}

## Every figure

| figure | value |
|---|---|
${rows}
`;
}

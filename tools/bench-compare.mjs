#!/usr/bin/env node
// Compares the bench figures of this checkout with another checkout of the repository (an
// older commit, say) in one run: the two run in turns (base, this, base, this, ...), so a
// busy machine slows both alike, and the median of each figure is printed with the ratio
// this / base. Ratios, not absolute figures, are what to compare on a noisy machine.
//
//   git worktree add --detach ../base <commit> && (cd ../base && npm ci)
//   node tools/bench-compare.mjs --base ../base [--rounds 3] [--only network] [--full]
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const argv = process.argv.slice(2);
const opt = (name, fallback) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
};
const here = resolve(import.meta.dirname, "..");
const baseArg = opt("base", undefined);
if (!baseArg) {
  console.error(
    "usage: node tools/bench-compare.mjs --base <other checkout> [--rounds N] [--only section] [--full]",
  );
  process.exit(2);
}
const base = resolve(baseArg);
if (!existsSync(join(base, "bench", "src", "main.ts")) || !existsSync(join(base, "node_modules"))) {
  console.error(
    `${base} is not an installed checkout (bench/src/main.ts and node_modules are needed: run npm ci there)`,
  );
  process.exit(2);
}
const rounds = Number(opt("rounds", "3"));
if (!Number.isInteger(rounds) || rounds < 1 || rounds > 20) {
  console.error("--rounds must be an integer from 1 to 20");
  process.exit(2);
}
const only = opt("only", "network");
const quick = !argv.includes("--full");

/** The bench writes its report into `bench/results`: what was there is put back after each run. */
function keepResults(dir) {
  const folder = join(dir, "bench", "results");
  const kept = new Map();
  if (existsSync(folder))
    for (const name of readdirSync(folder)) kept.set(name, readFileSync(join(folder, name)));
  return () => {
    if (!existsSync(folder)) return;
    for (const name of readdirSync(folder)) if (!kept.has(name)) rmSync(join(folder, name), { force: true });
    for (const [name, bytes] of kept) writeFileSync(join(folder, name), bytes);
  };
}

/** Runs one bench in `dir` and returns its `name  value` figures. */
function benchOnce(dir, label, round) {
  const restore = keepResults(dir);
  const bun = join(dir, "node_modules", "@oven", "bun-linux-x64", "bin", "bun");
  const args = ["bench/src/main.ts", `--only=${only}`, ...(quick ? ["--quick"] : [])];
  process.stderr.write(`round ${round}: ${label} (${dir})\n`);
  const r = spawnSync(
    existsSync(bun) ? bun : process.execPath,
    existsSync(bun) ? args : [join(dir, "tools", "bun.mjs"), ...args],
    {
      cwd: dir,
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  restore();
  if (r.status !== 0) {
    // One failed run (a flaky start, say) leaves its side a run short; the medians use the rest.
    console.error(`bench failed in ${dir} (exit ${r.status}); this run is left out`);
    return undefined;
  }
  const figures = {};
  for (const line of r.stdout.split("\n")) {
    const m = line.match(/^([a-z][a-z0-9_]+)\s+(-?[0-9][0-9.,]*)$/);
    if (m) figures[m[1]] = Number(m[2].replaceAll(",", ""));
  }
  return figures;
}

const runs = { base: [], here: [] };
for (let i = 1; i <= rounds; i++) {
  // Alternate which goes first so neither always runs on a warmer machine.
  const order = i % 2 === 1 ? ["base", "here"] : ["here", "base"];
  for (const which of order) {
    const figures = benchOnce(which === "base" ? base : here, which, i);
    if (figures) runs[which].push(figures);
  }
}
if (runs.base.length === 0 || runs.here.length === 0) {
  console.error("no successful run on one side: nothing to compare");
  process.exit(1);
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const names = Object.keys(runs.here[0] ?? {}).filter((k) => runs.base.every((f) => k in f));
const width = Math.max(...names.map((n) => n.length), 6);
console.log(
  `\n${"figure".padEnd(width)}  ${"base".padStart(10)}  ${"this".padStart(10)}  this/base   (median of ${runs.base.length} and ${runs.here.length} runs)`,
);
for (const n of names) {
  const b = median(runs.base.map((f) => f[n]));
  const h = median(runs.here.map((f) => f[n]));
  const ratio = b === 0 ? Number.NaN : h / b;
  console.log(
    `${n.padEnd(width)}  ${b.toFixed(2).padStart(10)}  ${h.toFixed(2).padStart(10)}  ${ratio.toFixed(3).padStart(9)}`,
  );
}

/**
 * Python sandbox benchmark: `npx bun bench/src/sandbox/main.ts [--quick]`.
 * Prints the start overhead against plain `python3 -c pass` and task throughput.
 */
import { fmt } from "../stats.ts";
import { benchSandbox } from "./bench-sandbox.ts";

const quick = process.argv.includes("--quick");
const figures = await benchSandbox(quick);
const width = Math.max(...Object.keys(figures).map((k) => k.length));
for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${fmt(v)}`);
const ratio = figures.sandbox_start_overhead_ratio;
console.log(
  `\nsandbox start overhead: ${fmt(ratio, 2)}x plain python (goal: within 1.5x) ${ratio <= 1.5 ? "ok" : "OVER"}`,
);
console.log(
  `against python3 with the sandbox's own flags (${fmt(figures.python_same_flags_ms_p50, 1)} ms): ${fmt(figures.sandbox_vs_same_flags_ratio, 2)}x; sandbox set-up alone ~${fmt(figures.sandbox_setup_ms_p50 - figures.true_plain_ms_p50, 1)} ms`,
);

/**
 * Compute agent benchmark: `npx bun bench/src/agent/main.ts [--quick]`.
 * Prints the agent's overhead per task against onnxruntime called directly on the same
 * model, OCR stage times and accuracy, and cold start to ready.
 * (Build `dist/ncn-agent` first with `npm run build:agent` to include the executable.)
 */
import { fmt } from "../stats.ts";
import { benchAgent } from "./bench-agent.ts";

const quick = process.argv.includes("--quick");
const figures = await benchAgent(quick);
const width = Math.max(...Object.keys(figures).map((k) => k.length));
for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${fmt(v)}`);
console.log("\nagent overhead per task (whole link: frame in -> signed result out) vs onnxruntime direct:");
for (const name of ["tiny", "cls", "det320"]) {
  console.log(
    `  ${name.padEnd(7)} direct ${fmt(figures[`${name}_direct_ms_p50`] ?? Number.NaN, 2)} ms, agent ${fmt(figures[`${name}_agent_link_ms_p50`] ?? Number.NaN, 2)} ms: +${fmt(figures[`${name}_link_overhead_ms`] ?? Number.NaN, 2)} ms, ${fmt(figures[`${name}_link_overhead_ratio`] ?? Number.NaN, 2)}x`,
  );
}
const exe = figures.cold_start_exe_ms;
console.log(
  `cold start to ready: ${fmt(figures.cold_start_source_ms ?? Number.NaN, 0)} ms from source${exe === undefined ? " (build dist/ncn-agent for the executable)" : `, ${fmt(exe, 0)} ms single executable (${fmt(figures.cold_start_exe_first_ms ?? Number.NaN, 0)} ms on its very first start)`}`,
);

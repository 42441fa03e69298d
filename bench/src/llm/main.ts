/**
 * Language model baseline, run directly through the runtime (no network):
 * `npx bun bench/src/llm/main.ts [--quick]`. Prints time to first token and tokens/s.
 */
import { fmt } from "../stats.ts";
import { benchLlm } from "./bench-llm.ts";

const quick = process.argv.includes("--quick");
const figures = await benchLlm(quick);
const width = Math.max(...Object.keys(figures).map((k) => k.length));
for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${fmt(v)}`);
console.log(
  `\nncn-gpt on this CPU: first token in ${fmt(figures.llm_ttft_ms_p50, 1)} ms, ${fmt(figures.llm_decode_tokens_per_s_greedy, 0)} tokens/s greedy`,
);

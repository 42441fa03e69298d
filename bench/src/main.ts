import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { benchProtocol } from "./protocol.ts";
import { fmt } from "./stats.ts";

const quick = process.argv.includes("--quick");
const results: Record<string, number> = {};

async function section(name: string, run: () => Promise<object>): Promise<void> {
  process.stderr.write(`bench: ${name}...\n`);
  const t0 = performance.now();
  const figures = await run();
  for (const [k, v] of Object.entries(figures)) if (typeof v === "number") results[k] = v;
  process.stderr.write(`bench: ${name} done in ${fmt((performance.now() - t0) / 1000, 1)} s\n`);
}

await section("protocol", () => benchProtocol(quick));

const width = Math.max(...Object.keys(results).map((k) => k.length));
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(width)}  ${fmt(v)}`);
const dir = join(import.meta.dirname, "..", "results");
mkdirSync(dir, { recursive: true });
writeFileSync(
  join(dir, "latest.json"),
  `${JSON.stringify({ at: new Date().toISOString(), quick, ...results }, null, 2)}\n`,
);

// Measures escrow vs batch settlement gas on a real anvil, prints the table and writes contracts/GAS.md.
// Usage: npx bun bench/src/gas/main.ts [--no-write]
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { gasTableMarkdown } from "./gas-table.ts";
import { defaultShape, measureGas } from "./measure-gas.ts";

const sizes = [1, 10, 100, 1000];
const report = await measureGas(sizes.map(defaultShape));
const note = [
  "Measured by `npx bun bench/src/gas/main.ts` against anvil (Foundry 1.7.1, solc 0.8.37, optimizer 20,000 runs):",
  "gasUsed of real transactions, so the 21,000 base cost and calldata are included. Validators: 3 of 5.",
  "Steady state = the second batch of the same sessions, nodes and gateway (their storage already",
  "written, batch ids sequential); cold = the first one. Fees 5% gateway, 3% validators, 2% protocol.",
].join("\n");
const markdown = gasTableMarkdown(report, note);
process.stdout.write(markdown);
if (!process.argv.includes("--no-write")) {
  const path = join(import.meta.dirname, "..", "..", "..", "contracts", "GAS.md");
  writeFileSync(path, markdown);
  process.stderr.write(`wrote ${path}\n`);
}

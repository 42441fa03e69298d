#!/usr/bin/env node
// `ncn`: runs the CLI with the Bun installed in this repository's node_modules.
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { bunPath } from "../../tools/bun.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const r = spawnSync(bunPath(), [join(here, "..", "src", "main.ts"), ...process.argv.slice(2)], {
  stdio: "inherit",
});
process.exitCode = r.status ?? 1;

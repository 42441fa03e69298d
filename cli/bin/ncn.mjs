#!/usr/bin/env node
// `ncn`: runs the CLI with the Bun installed in this repository's node_modules.
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { runBun } from "../../tools/bun.mjs";

const here = dirname(fileURLToPath(import.meta.url));
runBun([join(here, "..", "src", "main.ts"), ...process.argv.slice(2)]);

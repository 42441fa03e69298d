#!/usr/bin/env node
// Locates the bun binary installed from npm (works even when its postinstall did
// not run) and, when executed directly, runs bun with the given arguments.
import { spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dirname, "..");

export function bunPath() {
  const candidates = [
    join(root, "node_modules", "@oven", "bun-linux-x64", "bin", "bun"),
    join(root, "node_modules", "@oven", "bun-linux-x64-baseline", "bin", "bun"),
    join(root, "node_modules", "bun", "bin", "bun.exe"),
  ];
  const found = candidates.find((p) => existsSync(p));
  if (!found) throw new Error("bun is not installed: run `npm ci` at the repository root");
  return found;
}

/** Runs bun with `args`, passing stop signals on so that stopping us stops what bun runs. */
export function runBun(args) {
  const child = spawn(bunPath(), args, { stdio: "inherit" });
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"]) process.on(sig, () => child.kill(sig));
  child.on("exit", (code, signal) => {
    process.exitCode = code ?? (signal === "SIGINT" ? 130 : 143);
  });
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  runBun(process.argv.slice(2));
}

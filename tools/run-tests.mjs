#!/usr/bin/env node
// Runs every test suite of the repo (bun tests per workspace, then forge) and ends
// with one plain line `N passed, N failed` that sums them all. Exit code 1 on any
// failure, including a suite that crashed without reporting its tests.
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { bunPath } from "./bun.mjs";

const root = resolve(import.meta.dirname, "..");
const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
const argv = process.argv.slice(2);
const only = argv.includes("--only") ? argv[argv.indexOf("--only") + 1] : undefined;
const filters = argv.filter((a, i) => !a.startsWith("--") && argv[i - 1] !== "--only");

function hasTests(dir) {
  if (!existsSync(dir)) return false;
  for (const name of readdirSync(dir)) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) {
      if (hasTests(p)) return true;
    } else if (/\.test\.(ts|tsx|js|mjs)$/.test(name)) return true;
  }
  return false;
}

const totals = { passed: 0, failed: 0 };
const rows = [];
/** `suite: file > test: message` for every failed bun test case, printed again at the end. */
const failures = [];

function unescapeXml(s) {
  return s
    .replace(/&#10;/g, " ")
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, "&");
}

/** The failed test cases of a junit report, with the first line or so of each message. */
function failedCases(ws, xml) {
  const out = [];
  const re =
    /<testcase name="([^"]*)" classname="([^"]*)"[^>]*?file="([^"]*)"[^>]*>\s*<(failure|error)[^>]*?message="([^"]*)"/g;
  for (const m of xml.matchAll(re)) {
    const [, name, cls, file, , msg] = m;
    const what = unescapeXml(msg).replace(/\s+/g, " ").trim().slice(0, 300);
    out.push(`${ws}: ${file} > ${unescapeXml(cls)} > ${unescapeXml(name)}: ${what}`);
  }
  return out;
}
const scratch = mkdtempSync(join(tmpdir(), "ncn-tests-"));

function count(attr, xml) {
  const m = xml.match(new RegExp(`<testsuites[^>]*\\s${attr}="(\\d+)"`));
  return m ? Number(m[1]) : 0;
}

function runBun(ws) {
  const dir = join(root, ws);
  const out = join(scratch, `${ws}.xml`);
  console.log(`\n=== bun test: ${ws} ===`);
  const r = runSuite(
    bunPath(),
    ["test", "--timeout=60000", "--reporter=junit", `--reporter-outfile=${out}`, ...filters],
    dir,
  );
  let passed = 0;
  let failed = 0;
  if (existsSync(out)) {
    const xml = readFileSync(out, "utf8");
    const tests = count("tests", xml);
    failed = count("failures", xml) + count("errors", xml) + count("skipped", xml);
    passed = Math.max(0, tests - failed);
    failures.push(...failedCases(ws, xml));
  }
  // A crash or a failing file load can exit non-zero without a failed test case.
  if (r.status !== 0 && failed === 0) failed = 1;
  rows.push([`bun:${ws}`, passed, failed]);
  totals.passed += passed;
  totals.failed += failed;
}

/**
 * Runs a suite and, once it exits, kills whatever it left behind
 * (a server a crashed test never stopped), so no process outlives the run.
 */
function runSuite(cmd, args, cwd) {
  const r = spawnSync(cmd, args, {
    cwd,
    stdio: "inherit",
    env: {
      ...process.env,
      FORCE_COLOR: process.env.FORCE_COLOR ?? "0",
      NCN_TEST_RUN: "1",
      NCN_TEST_OWNER: String(process.pid),
    },
  });
  reapStragglers();
  return r;
}

/** Kills processes started by this run's suites (they carry NCN_TEST_OWNER=<our pid>). */
function reapStragglers() {
  for (const pid of readdirSync("/proc").filter((d) => /^\d+$/.test(d))) {
    if (Number(pid) === process.pid) continue;
    try {
      const env = readFileSync(`/proc/${pid}/environ`, "utf8");
      if (env.includes(`NCN_TEST_OWNER=${process.pid}\0`)) process.kill(Number(pid), "SIGKILL");
    } catch {}
  }
}

function runForge() {
  console.log("\n=== forge test ===");
  const forge = join(root, "node_modules", ".bin", "forge");
  const r = spawnSync(forge, ["test", ...(process.env.FORGE_TEST_ARGS ?? "").split(" ").filter(Boolean)], {
    cwd: root,
    encoding: "utf8",
    maxBuffer: 1 << 28,
  });
  process.stdout.write(r.stdout ?? "");
  process.stderr.write(r.stderr ?? "");
  let passed = 0;
  let failed = 0;
  const m = (r.stdout ?? "").match(/(\d+) tests passed, (\d+) failed, (\d+) skipped/);
  if (m) {
    passed = Number(m[1]);
    failed = Number(m[2]) + Number(m[3]);
  }
  if (r.status !== 0 && failed === 0) failed = 1;
  rows.push(["forge", passed, failed]);
  totals.passed += passed;
  totals.failed += failed;
}

if (only !== "forge") {
  for (const ws of rootPkg.workspaces) if (hasTests(join(root, ws))) runBun(ws);
}
if (only !== "bun" && filters.length === 0) runForge();
rmSync(scratch, { recursive: true, force: true });

if (failures.length > 0) {
  console.log("\nfailed tests:");
  for (const f of failures) console.log(`  ${f}`);
}
console.log("\nsuite                      passed  failed");
for (const [name, p, f] of rows)
  console.log(`${name.padEnd(26)} ${String(p).padStart(6)}  ${String(f).padStart(6)}`);
console.log(`${totals.passed} passed, ${totals.failed} failed`);
process.exitCode = totals.failed === 0 ? 0 : 1;

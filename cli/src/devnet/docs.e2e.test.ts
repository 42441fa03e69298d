import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { tinyModelBytes } from "@ncn/runtime/testing/tiny-model";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type Devnet, startDevnet } from "./devnet.ts";
import { type DocBlock, docBlocks } from "./doc-blocks.ts";
import { runProcess } from "./run-process.ts";

// Docs that run: every fenced block of README.md, docs/ and the packages' READMEs is run here
// against a devnet, or is marked `<!-- docs-test: skip REASON -->` on the line before it.
// - sh/bash blocks run in bash (`set -euo pipefail`) from the devnet's parent folder, where
//   `npx ncn ...` is this checkout's CLI (what `npx ncn` is in the repository);
// - ts blocks run under Bun from a folder of the repository (so that `@ncn/*` resolves);
// - a `<!-- docs-test: setup ... -->` comment before a block holds hidden shell lines run first
//   (fixtures a reader would have: a model file, a key of their own);
// - the devnet listens on a free port: the docs' `http://127.0.0.1:8787` is rewritten to it,
//   and NCN_KEY is the API key `npm start` prints.

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const DOC_URL = "http://127.0.0.1:8787";

/** The markdown files whose blocks must run: the README, docs/, and each package's README. */
function docFiles(): string[] {
  const files = ["README.md"];
  for (const name of readdirSync(join(ROOT, "docs")).sort())
    if (name.endsWith(".md")) files.push(`docs/${name}`);
  const { workspaces } = v.parse(
    v.object({ workspaces: v.array(v.string()) }),
    JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")),
  );
  for (const ws of workspaces) if (existsSync(join(ROOT, ws, "README.md"))) files.push(`${ws}/README.md`);
  return files;
}

const blocks: DocBlock[] = docFiles().flatMap((f) => docBlocks(f, readFileSync(join(ROOT, f), "utf8")));
const runnable = blocks.filter((b) => b.skip === undefined);

let devnet: Devnet;
let home: string;
let bin: string;
let scratch: string;
let env: Record<string, string>;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-docs-e2e-"));
  devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
  // `npx ncn` and `npx bun` as they are in the repository.
  bin = join(home, "bin");
  mkdirSync(bin);
  const npx = join(bin, "npx");
  writeFileSync(
    npx,
    [
      "#!/usr/bin/env bash",
      'case "$1" in',
      `  ncn) shift; exec node ${JSON.stringify(join(ROOT, "tools", "bun.mjs"))} ${JSON.stringify(join(ROOT, "cli", "src", "main.ts"))} "$@" ;;`,
      `  bun) shift; exec ${JSON.stringify(process.execPath)} "$@" ;;`,
      '  *) echo "docs test: npx $1 is not provided here" >&2; exit 127 ;;',
      "esac",
      "",
    ].join("\n"),
  );
  chmodSync(npx, 0o755);
  const fixtures = join(home, "fixtures");
  mkdirSync(fixtures);
  writeFileSync(join(fixtures, "tiny.onnx"), tinyModelBytes());
  scratch = mkdtempSync(join(ROOT, "cli", ".docs-"));
  const key = generatePrivateKey();
  env = {
    PATH: `${bin}:${process.env.PATH ?? ""}`,
    NCN_DOCS_FIXTURES: fixtures,
    // A key of the reader's own, for the blocks that say so (their setup exports it).
    NCN_DOCS_KEY: key,
    NCN_DOCS_ADDRESS: privateKeyToAccount(key).address,
    NO_COLOR: "1",
  };
}, 240_000);

afterAll(async () => {
  await devnet?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
  if (scratch) rmSync(scratch, { recursive: true, force: true });
}, 60_000);

async function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  const { code, out } = await runProcess(cmd, args, { cwd: home, env });
  return { code, out };
}

/** The block as it runs here: the devnet's own URL for the docs' default one. */
function localised(text: string): string {
  return text.replaceAll(DOC_URL, devnet.gateway.url);
}

async function runBlock(b: DocBlock): Promise<{ code: number | null; out: string }> {
  const setup = b.setup ? `${localised(b.setup)}\n` : "";
  if (b.lang === "sh" || b.lang === "bash") {
    return run("bash", ["-c", `set -euo pipefail\n${setup}${localised(b.code)}`]);
  }
  // ts: the setup's shell runs first, then the block under Bun.
  if (setup) {
    const s = await run("bash", ["-c", `set -euo pipefail\n${setup}`]);
    if (s.code !== 0) return s;
  }
  const file = join(scratch, `${b.file.replaceAll("/", "-")}-${b.line}.ts`);
  writeFileSync(file, localised(b.code));
  return run(process.execPath, [file]);
}

test("every block is run or marked not runnable with a reason", () => {
  expect(blocks.length).toBeGreaterThan(20);
  for (const b of blocks) {
    if (b.skip !== undefined) {
      expect({ where: `${b.file}:${b.line}`, reason: b.skip.length >= 10 }).toEqual({
        where: `${b.file}:${b.line}`,
        reason: true,
      });
    } else {
      expect({ where: `${b.file}:${b.line}`, lang: ["sh", "bash", "ts"].includes(b.lang) }).toEqual({
        where: `${b.file}:${b.line}`,
        lang: true,
      });
    }
  }
  // Most of what a reader copies runs.
  expect(runnable.length).toBeGreaterThanOrEqual(8);
});

describe("docs blocks", () => {
  beforeAll(() => {
    env.NCN_KEY = devnet.file.client.apiKey as string;
  });
  for (const b of runnable) {
    test(`${b.file}:${b.line} (${b.lang}) runs`, async () => {
      const r = await runBlock(b);
      if (r.code !== 0) {
        throw new Error(
          `${b.file}:${b.line} exited ${r.code}:\n${r.out.slice(-4000)}\n--- block (from ${relative(ROOT, join(ROOT, b.file))}) ---\n${b.code}`,
        );
      }
      for (const want of b.expect) expect(r.out).toContain(want);
    }, 180_000);
  }
});

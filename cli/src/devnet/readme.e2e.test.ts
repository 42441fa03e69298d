import { afterAll, beforeAll, expect, test } from "bun:test";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { type Devnet, startDevnet } from "./devnet.ts";

// The README's SDK block, run as written against a devnet: it reads `.ncn/devnet.json` and a
// sample image from the folder it runs in, pays for an OCR request and verifies its receipt.

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
let devnet: Devnet;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-readme-e2e-"));
  devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(home, { recursive: true, force: true });
}, 60_000);

/** The README's first TypeScript block that imports `@ncn/sdk/devnet`. */
function readmeSnippet(): string {
  const readme = readFileSync(join(ROOT, "README.md"), "utf8");
  const blocks = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1] as string);
  const block = blocks.find((b) => b.includes("@ncn/sdk/devnet"));
  if (!block) throw new Error("README.md has no block using @ncn/sdk/devnet");
  return block;
}

test("the README's SDK block runs as written: a paid OCR request whose receipt verifies", async () => {
  // In a folder of the repository (so that `@ncn/sdk` resolves), run from the devnet's parent
  // folder (so that `.ncn/devnet.json` is found as the README says).
  const dir = mkdtempSync(join(ROOT, "cli", ".readme-"));
  try {
    const script = join(dir, "snippet.ts");
    writeFileSync(script, readmeSnippet());
    const out = await new Promise<{ code: number | null; stdout: string; stderr: string }>((done) => {
      const p = spawn(process.execPath, [script], { cwd: home, stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      p.stdout.on("data", (b: Buffer) => {
        stdout += b.toString();
      });
      p.stderr.on("data", (b: Buffer) => {
        stderr += b.toString();
      });
      p.on("close", (code) => done({ code, stdout, stderr }));
    });
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("returned");
    expect(out.stdout).toContain("Invoice");
    expect(out.stdout.trim().endsWith("true")).toBe(true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);

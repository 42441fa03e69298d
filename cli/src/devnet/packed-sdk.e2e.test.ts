import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import * as v from "valibot";
import { packSdk } from "../../../sdk/build/pack.ts";
import { type Devnet, startDevnet } from "./devnet.ts";
import { type ProcessRun, runProcess } from "./run-process.ts";

// `@ncn/sdk` as a user gets it: packed with `npm pack`, installed with npm into a project
// outside the repository, its types checked by tsc, and the README's SDK block run under plain
// Node 20 and under Bun against a devnet, verifying the receipt.

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const NODE = process.env.NCN_TEST_NODE ?? "node";
let devnet: Devnet;
/** The devnet's parent folder: where the README's block runs (it reads `.ncn/...`). */
let home: string;
/** The user's project, outside the repository, with the packed SDK installed. */
let project: string;

function exec(cmd: string, args: string[], cwd: string): Promise<ProcessRun> {
  return runProcess(cmd, args, { cwd });
}

/** A TypeScript block of a markdown file, the first that contains `marker`. */
function block(file: string, marker: string): string {
  const text = readFileSync(join(ROOT, file), "utf8");
  const found = [...text.matchAll(/```ts\n([\s\S]*?)```/g)]
    .map((m) => m[1] as string)
    .find((b) => b.includes(marker));
  if (!found) throw new Error(`${file} has no TypeScript block with ${marker}`);
  return found;
}

beforeAll(async () => {
  const [tgz, net] = await Promise.all([
    packSdk(),
    (async () => {
      home = mkdtempSync(join(tmpdir(), "ncn-packed-sdk-"));
      return startDevnet({ dir: join(home, ".ncn"), port: 0 });
    })(),
  ]);
  devnet = net;
  project = mkdtempSync(join(tmpdir(), "ncn-sdk-user-"));
  writeFileSync(
    join(project, "package.json"),
    JSON.stringify({ name: "sdk-user", private: true, type: "module" }, null, 2),
  );
  const { version: typesNode } = v.parse(
    v.object({ version: v.string() }),
    JSON.parse(readFileSync(join(ROOT, "node_modules/@types/node/package.json"), "utf8")),
  );
  // What a user types; --prefer-offline takes viem and valibot from npm's cache when it has them.
  const install = await exec(
    "npm",
    [
      "install",
      "--prefer-offline",
      "--no-audit",
      "--no-fund",
      "--ignore-scripts",
      tgz,
      `@types/node@${typesNode}`,
    ],
    project,
  );
  if (install.code !== 0) throw new Error(`npm install failed:\n${install.stdout}\n${install.stderr}`);
}, 300_000);

afterAll(async () => {
  await devnet?.stop();
  if (home) rmSync(home, { recursive: true, force: true });
  if (project) rmSync(project, { recursive: true, force: true });
}, 60_000);

test("the installed package is built JavaScript with declarations, outside the repository", () => {
  expect(project.startsWith(ROOT)).toBe(false);
  const pkg = join(project, "node_modules", "@ncn", "sdk");
  const manifest = v.parse(
    v.object({
      name: v.string(),
      private: v.optional(v.boolean()),
      dependencies: v.record(v.string(), v.string()),
    }),
    JSON.parse(readFileSync(join(pkg, "package.json"), "utf8")),
  );
  expect(manifest.name).toBe("@ncn/sdk");
  expect(manifest.private).toBeUndefined();
  for (const entry of ["index.js", "index.d.ts", "devnet.js", "devnet.d.ts", "README.md"]) {
    expect(existsSync(join(pkg, entry))).toBe(true);
  }
  // Only its declared dependencies are imported: the repo's own packages are bundled in, and
  // the main entry and its chunks import no Node module (a browser bundler takes them as they are).
  const files = ["index.js", ...readdirSync(join(pkg, "chunks")).map((f) => `chunks/${f}`)];
  for (const f of files) {
    const js = readFileSync(join(pkg, f), "utf8");
    expect({
      f,
      ncn: /from ["']@ncn\//.test(js),
      node: /from "node:|require\("node:|import\("node:/.test(js),
    }).toEqual({
      f,
      ncn: false,
      node: false,
    });
  }
  expect(Object.keys(manifest.dependencies).sort()).toEqual(["hash-wasm", "valibot", "viem"]);
});

test("the README's block and the package README's blocks type-check against the declarations", async () => {
  writeFileSync(join(project, "readme.ts"), block("README.md", "@ncn/sdk/devnet"));
  writeFileSync(join(project, "stream.ts"), block("sdk/README.md", "openStream"));
  writeFileSync(
    join(project, "tsconfig.json"),
    JSON.stringify({
      compilerOptions: {
        target: "ES2022",
        module: "NodeNext",
        moduleResolution: "NodeNext",
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        types: ["node"],
      },
      files: ["readme.ts", "stream.ts"],
    }),
  );
  const tsc = await exec(NODE, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", "."], project);
  expect(`${tsc.stdout}${tsc.stderr}`).toBe("");
  expect(tsc.code).toBe(0);
}, 120_000);

for (const runtime of ["node", "bun"] as const) {
  test(`the README's SDK block runs under ${runtime === "node" ? "Node 20" : "Bun"}: paid OCR, receipt verified`, async () => {
    const script = join(project, `readme-${runtime}.mjs`);
    writeFileSync(script, block("README.md", "@ncn/sdk/devnet"));
    const cmd = runtime === "node" ? NODE : process.execPath;
    if (runtime === "node") {
      const version = await exec(NODE, ["--version"], home);
      expect(version.stdout.trim()).toMatch(/^v2\d\./);
    }
    const out = await exec(cmd, [script], home);
    expect(out.stderr).toBe("");
    expect(out.code).toBe(0);
    expect(out.stdout).toContain("Invoice");
    expect(out.stdout.trim().endsWith("true")).toBe(true);
  }, 120_000);
}

test("the package README's stream block runs under Bun: pipelined requests, a batch result verified", async () => {
  const script = join(project, "stream-bun.ts");
  writeFileSync(script, block("sdk/README.md", "openStream"));
  const out = await exec(process.execPath, [script], home);
  expect(out.stderr).toBe("");
  expect(out.code).toBe(0);
  expect(out.stdout.trim()).toBe("3 true");
}, 120_000);

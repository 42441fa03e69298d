// Builds `@ncn/sdk` as a publishable package and packs it:
//   sdk/dist/package/   index.js, devnet.js (ESM, bundled with the repo's own protocol and
//                       contract bindings), index.d.ts, devnet.d.ts, package.json, README.md
//   sdk/dist/ncn-sdk-<version>.tgz   what `npm pack` makes of it
// The workspace package (`sdk/package.json`) stays private and points at the TypeScript
// sources, which is what the repo's own Bun code imports. Only viem, valibot and hash-wasm
// stay outside the bundle: they are the package's dependencies, at the versions the repo uses.
//
//   npm run pack -w sdk          (prints the tarball's path on its last line)
import { spawnSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const SDK = resolve(import.meta.dirname, "..");
const ROOT = resolve(SDK, "..");
const OUT = join(SDK, "dist", "package");
/** Left out of the bundle and named as dependencies. */
const EXTERNAL = ["viem", "valibot", "hash-wasm"] as const;
const ENTRIES = { index: "src/index.ts", devnet: "src/devnet.ts" } as const;

function readJson(path: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path, "utf8")) as Record<string, unknown>;
}

function installedVersion(name: string): string {
  const version = readJson(join(ROOT, "node_modules", name, "package.json")).version;
  if (typeof version !== "string") throw new Error(`no version for ${name}: run npm ci first`);
  return version;
}

function run(cmd: string, args: string[], cwd: string): string {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8" });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} failed (exit ${r.status}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

async function buildJs(): Promise<void> {
  const result = await Bun.build({
    entrypoints: Object.values(ENTRIES).map((e) => join(SDK, e)),
    outdir: OUT,
    target: "node",
    format: "esm",
    splitting: true,
    external: [...EXTERNAL, ...EXTERNAL.map((e) => `${e}/*`)],
    naming: { entry: "[name].js", chunk: "chunks/[name]-[hash].js" },
  });
  if (!result.success) throw new Error(`bundling failed:\n${result.logs.join("\n")}`);
}

function buildTypes(): void {
  const tsconfig = join(SDK, "tsconfig.build.json");
  // index.d.ts: one file, the repo's own packages inlined (their sources are mapped in
  // tsconfig.build.json), the dependencies' types left as imports.
  const config = {
    compilationOptions: { preferredConfigPath: tsconfig },
    entries: [
      {
        filePath: join(SDK, ENTRIES.index),
        outFile: join(OUT, "index.d.ts"),
        noCheck: true,
        output: { noBanner: true, exportReferencedTypes: false },
      },
    ],
  };
  const configPath = join(SDK, "dist", "dts-config.json");
  writeFileSync(configPath, JSON.stringify(config));
  const bin = join(ROOT, "node_modules", "dts-bundle-generator", "dist", "bin", "dts-bundle-generator.js");
  run(process.execPath, [bin, "--silent", "--config", configPath], SDK);
  // (tsc writes under the common root of the sdk, protocol and contracts sources.)
  // devnet.d.ts imports its types from index.d.ts, so that `NcnClient` is one type (a second
  // inlined copy of a class with private fields would not be assignable to the first).
  const emitted = join(SDK, "dist", "dts");
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  run(
    process.execPath,
    [tsc, "-p", tsconfig, "--noEmit", "false", "--declaration", "--emitDeclarationOnly", "--outDir", emitted],
    SDK,
  );
  const devnet = readFileSync(join(emitted, "sdk", "src", "devnet.d.ts"), "utf8");
  const index = readFileSync(join(OUT, "index.d.ts"), "utf8");
  const rewritten = devnet.replace(/from "\.\/[a-z-]+\.ts"/g, 'from "./index.js"');
  for (const m of rewritten.matchAll(/import (?:type )?\{([^}]*)\} from "\.\/index\.js"/g)) {
    for (const name of (m[1] ?? "").split(",").map((n) => n.replace(/^\s*type\s+/, "").trim())) {
      if (
        name &&
        !new RegExp(`export (declare )?(class|interface|type|function|const) ${name}\\b`).test(index)
      ) {
        throw new Error(`devnet.d.ts needs ${name}, which index.d.ts does not export`);
      }
    }
  }
  if (/from "\.\//.test(rewritten.replaceAll('from "./index.js"', ""))) {
    throw new Error(`devnet.d.ts still imports a source file:\n${rewritten}`);
  }
  writeFileSync(join(OUT, "devnet.d.ts"), rewritten);
  rmSync(emitted, { recursive: true, force: true });
}

function writeManifest(): string {
  const source = readJson(join(SDK, "package.json"));
  const version = String(source.version);
  const manifest = {
    name: "@ncn/sdk",
    version,
    description:
      "Client for the NCN decentralized inference network: paid requests, streams and offline receipt verification.",
    license: "MIT",
    type: "module",
    sideEffects: false,
    engines: { node: ">=20.11" },
    exports: {
      ".": { types: "./index.d.ts", import: "./index.js" },
      "./devnet": { types: "./devnet.d.ts", import: "./devnet.js" },
      "./package.json": "./package.json",
    },
    types: "./index.d.ts",
    files: ["*.js", "*.d.ts", "chunks/", "README.md"],
    dependencies: Object.fromEntries(EXTERNAL.map((name) => [name, installedVersion(name)])),
    keywords: ["inference", "decentralized", "onnx", "eip-712", "verifiable"],
  };
  writeFileSync(join(OUT, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  copyFileSync(join(SDK, "README.md"), join(OUT, "README.md"));
  return version;
}

/** Builds and packs; returns the tarball's absolute path. */
export async function packSdk(): Promise<string> {
  rmSync(join(SDK, "dist"), { recursive: true, force: true });
  mkdirSync(OUT, { recursive: true });
  await buildJs();
  buildTypes();
  const version = writeManifest();
  // --ignore-scripts: the package has none, and the repo's own must not run here.
  run("npm", ["pack", "--ignore-scripts", "--pack-destination", join(SDK, "dist")], OUT);
  return join(SDK, "dist", `ncn-sdk-${version}.tgz`);
}

if (import.meta.main) {
  const started = performance.now();
  const tgz = await packSdk();
  console.log(`packed @ncn/sdk in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  console.log(tgz);
}

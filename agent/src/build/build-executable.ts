/**
 * Builds the single executable `dist/ncn-agent`:
 *   npm run build:agent            (or: npx bun agent/src/build/build-executable.ts [--outfile PATH])
 *
 * The executable embeds, as file assets: onnxruntime's and libvips' shared libraries
 * with their sha256 (written to the data folder, checked, and opened before the addons load), the built-in OCR
 * models and their manifest (served to the model store for their `npm:` sources), and
 * a statically linked sandbox helper when a C compiler is available at build time. The
 * inference thread is bundled as a second entry point.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { BUILTIN_MODELS, parseNpmSource, resolveNpmSource } from "@ncn/runtime";
import { compileShim } from "../runtimes/python/index.ts";

export const REPO_ROOT = resolve(import.meta.dir, "../../..");
const AGENT_ROOT = resolve(import.meta.dir, "../..");
// By its real path: the executable must register its assets in the very module the agent reads them from.
const RUNTIME_ROOT = realpathSync(
  resolve(fileURLToPath(import.meta.resolve("@ncn/runtime/embedded")), "../.."),
);

export interface BuildOptions {
  /** Output path (default `<repo>/dist/ncn-agent`). */
  outfile?: string;
  /** Embed a prebuilt sandbox helper (default true; skipped with a note when `cc` fails). */
  sandboxShim?: boolean;
  log?: (line: string) => void;
}

export interface BuildResult {
  outfile: string;
  bytes: number;
  ms: number;
  embedded: string[];
  notes: string[];
}

function packageDir(name: string): string {
  const p = resolveNpmSource(`npm:${name}/package.json`, [RUNTIME_ROOT]);
  if (!p) throw new Error(`${name} is not installed (run npm ci at the repository root)`);
  return dirname(p);
}

function nativeLibs(): { soname: string; path: string; symbol: string }[] {
  const plat = `${process.platform}-${process.arch}`;
  const ortDir = join(packageDir("onnxruntime-node"), "bin", "napi-v6", process.platform, process.arch);
  const ort = join(ortDir, "libonnxruntime.so.1");
  if (!existsSync(ort)) throw new Error(`onnxruntime library missing at ${ort}`);
  const vipsDir = join(packageDir(`@img/sharp-libvips-${plat}`), "lib");
  const vips = readdirSync(vipsDir).find((f) => /^libvips-cpp\.so\.\d/.test(f));
  if (!vips) throw new Error(`libvips library missing in ${vipsDir}`);
  return [
    { soname: "libonnxruntime.so.1", path: ort, symbol: "OrtGetApiBase" },
    { soname: vips, path: join(vipsDir, vips), symbol: "vips_init" },
  ];
}

function fileSha256(path: string): string {
  return createHash("sha256").update(readFileSync(path)).digest("hex");
}

export async function buildExecutable(options: BuildOptions = {}): Promise<BuildResult> {
  const t0 = performance.now();
  const log = options.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const outfile = resolve(options.outfile ?? join(REPO_ROOT, "dist", "ncn-agent"));
  const work = join(dirname(outfile), ".build");
  mkdirSync(work, { recursive: true });
  const notes: string[] = [];

  const libs = nativeLibs();
  const npmFiles = BUILTIN_MODELS.flatMap((m) =>
    m.sources
      .filter((s) => s.startsWith("npm:"))
      .map((s) => {
        const path = resolveNpmSource(s, [RUNTIME_ROOT]);
        if (!path) throw new Error(`built-in model ${m.id}: ${s} not found`);
        const { pkg, path: sub } = parseNpmSource(s);
        return { key: `${pkg}/${sub}`, path };
      }),
  );

  let shim: string | undefined;
  if (options.sandboxShim !== false) {
    const out = join(work, "ncn-sandbox");
    try {
      await compileShim(out, { static: true });
      shim = out;
    } catch (e) {
      notes.push(
        `sandbox helper not embedded (${(e as Error).message}); agents compile it with cc on first use`,
      );
    }
  }

  const q = JSON.stringify;
  const lines: string[] = [];
  const assets: string[] = [];
  libs.forEach((l, i) => {
    lines.push(`import lib${i} from ${q(l.path)} with { type: "file" };`);
    assets.push(l.path);
  });
  npmFiles.forEach((f, i) => {
    lines.push(`import npm${i} from ${q(f.path)} with { type: "file" };`);
    assets.push(f.path);
  });
  if (shim) {
    lines.push(`import shim from ${q(shim)} with { type: "file" };`);
    assets.push(shim);
  }
  lines.push(`import { registerEmbeddedAssets } from ${q(join(RUNTIME_ROOT, "src", "embedded.ts"))};`);
  lines.push("registerEmbeddedAssets({");
  lines.push(
    `  nativeLibs: [${libs.map((l, i) => `{ soname: ${q(l.soname)}, path: lib${i}, symbol: ${q(l.symbol)}, size: ${statSync(l.path).size}, sha256: ${q(fileSha256(l.path))} }`).join(", ")}],`,
  );
  lines.push(`  npmFiles: { ${npmFiles.map((f, i) => `${q(f.key)}: npm${i}`).join(", ")} },`);
  if (shim) lines.push("  sandboxShim: shim,");
  // The inference thread is a second entry point of the executable, beside this one.
  lines.push('  inferenceWorker: new URL("./inference-worker.ts", import.meta.url).href,');
  lines.push("});");
  // The agent is imported only after its embedded files are registered.
  lines.push(`await import(${q(join(AGENT_ROOT, "src", "main.ts"))});`);
  const entry = join(work, "entry.ts");
  await Bun.write(entry, `${lines.join("\n")}\n`);
  const workerEntry = join(work, "inference-worker.ts");
  await Bun.write(
    workerEntry,
    `import ${q(join(RUNTIME_ROOT, "src", "runtimes", "onnx", "inference-worker.ts"))};\n`,
  );

  mkdirSync(dirname(outfile), { recursive: true });
  const proc = Bun.spawn([process.execPath, "build", "--compile", entry, workerEntry, "--outfile", outfile], {
    cwd: AGENT_ROOT,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, out, err] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`bun build --compile failed (${code}):\n${out}\n${err}`);
  const bytes = statSync(outfile).size;
  const ms = Math.round(performance.now() - t0);
  log(`built ${outfile} (${Math.round(bytes / 1024 / 1024)} MB) in ${ms} ms`);
  for (const n of notes) log(`note: ${n}`);
  return { outfile, bytes, ms, embedded: assets, notes };
}

if (import.meta.main) {
  const { values } = parseArgs({ options: { outfile: { type: "string" } } });
  await buildExecutable(values.outfile ? { outfile: values.outfile } : {});
}

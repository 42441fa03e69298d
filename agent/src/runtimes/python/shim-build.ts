import { createHash, randomBytes } from "node:crypto";
import { chmod, lstat, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { SandboxInternalError } from "./errors.ts";
import fsC from "./shim/fs.c" with { type: "file" };
import landlockC from "./shim/landlock.c" with { type: "file" };
import mainC from "./shim/main.c" with { type: "file" };
import probeC from "./shim/probe.c" with { type: "file" };
import seccompC from "./shim/seccomp.c" with { type: "file" };
import shimH from "./shim/shim.h" with { type: "file" };

/**
 * The shim ships as C source (file assets, so a `bun build --compile`
 * executable carries them) and is compiled with the machine's C compiler into
 * a private cache directory on first use. Release builds may instead ship a
 * prebuilt (static) helper from `compileShim` and pass its path as `shimPath`.
 */
const SOURCES: readonly (readonly [string, string])[] = [
  ["shim.h", shimH],
  ["main.c", mainC],
  ["fs.c", fsC],
  ["landlock.c", landlockC],
  ["seccomp.c", seccompC],
  ["probe.c", probeC],
];

const CFLAGS = ["-O2", "-std=gnu11", "-Wall", "-Wextra", "-Wno-unused-parameter"];

export interface CompileShimOptions {
  /** C compiler; defaults to `cc`. */
  readonly cc?: string;
  /**
   * Link statically (starts faster, runs on any Linux of the same
   * architecture). Default: static if the C library allows it, else dynamic.
   */
  readonly static?: boolean | undefined;
}

export interface ResolveShimOptions extends CompileShimOptions {
  /** A prebuilt helper; used as is (after the ownership check). */
  readonly shimPath?: string | undefined;
  /** Private directory for the compiled helper. */
  readonly cacheDir: string;
}

/** `$XDG_CACHE_HOME/ncn/sandbox`, else `~/.cache/ncn/sandbox`. */
export function defaultShimCacheDir(env: Readonly<Record<string, string | undefined>> = process.env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ncn", "sandbox");
}

async function readSources(): Promise<{ name: string; text: string }[]> {
  return Promise.all(SOURCES.map(async ([name, path]) => ({ name, text: await Bun.file(path).text() })));
}

/**
 * Compiles the shim to `outPath` (atomically: a half-written helper is never
 * visible under that name).
 *
 * @example await compileShim("dist/ncn-sandbox", { static: true })
 */
export async function compileShim(outPath: string, options: CompileShimOptions = {}): Promise<void> {
  const sources = await readSources();
  const work = await mkdtemp(`${outPath}.build-`);
  try {
    for (const { name, text } of sources) await writeFile(join(work, name), text, { mode: 0o600 });
    const binary = join(work, "ncn-sandbox");
    const cfiles = sources.filter((s) => s.name.endsWith(".c")).map((s) => join(work, s.name));
    const compile = async (linkStatic: boolean) => {
      const argv = [
        options.cc ?? "cc",
        ...CFLAGS,
        ...(linkStatic ? ["-static"] : []),
        "-o",
        binary,
        ...cfiles,
      ];
      const proc = Bun.spawn(argv, { stdout: "pipe", stderr: "pipe" });
      const [stderr, code] = await Promise.all([new Response(proc.stderr).text(), proc.exited]);
      return { compiler: argv[0], code, stderr };
    };
    let outcome = await compile(options.static ?? true);
    if (outcome.code !== 0 && options.static === undefined) outcome = await compile(false);
    if (outcome.code !== 0) throw new SandboxInternalError("could not compile the sandbox shim", outcome);
    await chmod(binary, 0o755);
    await rename(binary, outPath);
  } catch (error) {
    if (error instanceof SandboxInternalError) throw error;
    throw new SandboxInternalError(
      "could not compile the sandbox shim",
      { reason: String(error) },
      { cause: error },
    );
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

/** The helper is run by the agent, maybe as root: nobody else may be able to swap it. */
async function assertPrivate(path: string, what: string): Promise<void> {
  const st = await stat(path);
  const me = process.geteuid?.() ?? -1;
  if ((st.uid !== me && st.uid !== 0) || (st.mode & 0o022) !== 0) {
    throw new SandboxInternalError(`${what} ${path} is writable by others or owned by another user`, {
      path,
      uid: st.uid,
      mode: (st.mode & 0o7777).toString(8),
    });
  }
}

const builds = new Map<string, Promise<string>>();

/** Path of a compiled shim in `cacheDir`, compiling it if this source version is not there yet. */
export async function buildShim(options: ResolveShimOptions): Promise<string> {
  const { cacheDir } = options;
  const sources = await readSources();
  const hash = createHash("sha256");
  hash.update(JSON.stringify([options.cc ?? "cc", CFLAGS, options.static ?? "prefer-static"]));
  for (const { name, text } of sources) hash.update(`\0${name}\0${text}`);
  const outPath = join(cacheDir, `ncn-sandbox-${hash.digest("hex").slice(0, 16)}`);

  const pending = builds.get(outPath);
  if (pending) return pending;
  const build = (async () => {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
    await assertPrivate(cacheDir, "shim cache directory");
    const exists = await stat(outPath).then(
      () => true,
      () => false,
    );
    if (!exists) await compileShim(outPath, options);
    await assertPrivate(outPath, "sandbox shim");
    return outPath;
  })();
  builds.set(outPath, build);
  build.catch(() => builds.delete(outPath));
  return build;
}

const resolved = new Map<string, Promise<string>>();

/**
 * The prebuilt helper if one is configured, else the compiled one from the
 * cache. Checked once per process and configuration: later tasks pay nothing.
 */
export function resolveShim(options: ResolveShimOptions): Promise<string> {
  const key = JSON.stringify([options.shimPath, options.cacheDir, options.cc, options.static]);
  let shim = resolved.get(key);
  if (!shim) {
    const { shimPath } = options;
    shim =
      shimPath === undefined
        ? buildShim(options)
        : assertPrivate(shimPath, "sandbox shim").then(() => shimPath);
    resolved.set(key, shim);
    shim.catch(() => resolved.delete(key));
  }
  return shim;
}

/**
 * Copies a prebuilt shim that ships inside the agent's executable (a file
 * asset, e.g. `import shim from "./ncn-sandbox.bin" with { type: "file" }`)
 * into the private cache directory, named by its content hash, and returns
 * the path to pass as `shimPath`. A file already there is reused only when it is a
 * regular file holding exactly those bytes; anything else (planted, truncated, a link)
 * is replaced atomically before it can run.
 */
export async function materializeShim(embeddedPath: string, cacheDir: string): Promise<string> {
  const bytes = await Bun.file(embeddedPath).bytes();
  const sha256 = createHash("sha256").update(bytes).digest("hex");
  const outPath = join(cacheDir, `ncn-sandbox-bin-${sha256.slice(0, 16)}`);
  await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  await assertPrivate(cacheDir, "shim cache directory");
  const st = await lstat(outPath).catch(() => undefined);
  const intact =
    st?.isFile() &&
    st.size === bytes.byteLength &&
    createHash("sha256")
      .update(await readFile(outPath))
      .digest("hex") === sha256;
  if (!intact) {
    const tmp = `${outPath}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
    await writeFile(tmp, bytes, { flag: "wx", mode: 0o755 });
    await chmod(tmp, 0o755);
    await rename(tmp, outPath);
  }
  await assertPrivate(outPath, "sandbox shim");
  return outPath;
}

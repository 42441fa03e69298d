import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmod, copyFile, mkdir, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SandboxInternalError } from "./errors.ts";
import { buildShim, compileShim, defaultShimCacheDir, materializeShim, resolveShim } from "./shim-build.ts";

const root = await mkdtemp(join(tmpdir(), "ncn-shim-build-"));
const prebuilt = join(root, "prebuilt-shim");
beforeAll(() => compileShim(prebuilt));
afterAll(() => rm(root, { recursive: true, force: true }));

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => null,
    (error: unknown) => error,
  );
}

describe("shim build", () => {
  test("compiles once into a private cache and reuses the binary", async () => {
    const cacheDir = join(root, "cache");
    const first = await buildShim({ cacheDir });
    const st = await stat(first);
    expect(st.mode & 0o777).toBe(0o755);
    expect((await stat(cacheDir)).mode & 0o777).toBe(0o700);
    const again = await buildShim({ cacheDir });
    expect(again).toBe(first);
    expect((await stat(again)).mtimeMs).toBe(st.mtimeMs);
    // The binary answers like the shim: usage on an unknown command.
    const proc = Bun.spawn([first, "help"], { stderr: "pipe" });
    expect(await proc.exited).toBe(2);
    expect(await new Response(proc.stderr).text()).toContain("usage:");
  });

  test("a cache directory others can write to is refused", async () => {
    const cacheDir = join(root, "open");
    await mkdir(cacheDir);
    await chmod(cacheDir, 0o777);
    const error = await rejection(buildShim({ cacheDir }));
    expect(error).toBeInstanceOf(SandboxInternalError);
    expect((error as SandboxInternalError).details).toMatchObject({ mode: "777" });
  });

  test("a prebuilt shim is used as is, unless others can write to it", async () => {
    expect(await resolveShim({ shimPath: prebuilt, cacheDir: join(root, "unused") })).toBe(prebuilt);
    const writable = join(root, "writable-shim");
    await copyFile(prebuilt, writable);
    await chmod(writable, 0o757);
    expect(
      await rejection(resolveShim({ shimPath: writable, cacheDir: join(root, "unused") })),
    ).toBeInstanceOf(SandboxInternalError);
  });

  test("an embedded prebuilt shim is copied into the cache under its content hash", async () => {
    const embedded = join(root, "embedded-shim");
    await copyFile(prebuilt, embedded);
    await chmod(embedded, 0o644);
    const cacheDir = join(root, "materialized");
    const path = await materializeShim(embedded, cacheDir);
    expect(path.startsWith(join(cacheDir, "ncn-sandbox-bin-"))).toBe(true);
    expect((await stat(path)).mode & 0o777).toBe(0o755);
    expect(await Bun.file(path).bytes()).toEqual(await Bun.file(embedded).bytes());
    expect(await materializeShim(embedded, cacheDir)).toBe(path);
    // Another program of the same size planted under that name is replaced, not run.
    const size = (await stat(path)).size;
    await rm(path);
    await writeFile(path, new Uint8Array(size).fill(0x90), { mode: 0o755 });
    expect(await materializeShim(embedded, cacheDir)).toBe(path);
    expect(await Bun.file(path).bytes()).toEqual(await Bun.file(embedded).bytes());
  });

  test("a compiler failure is an internal error with the compiler's output", async () => {
    const error = await rejection(compileShim(join(root, "never"), { cc: "/bin/false" }));
    expect(error).toBeInstanceOf(SandboxInternalError);
    expect((error as SandboxInternalError).details).toMatchObject({ compiler: "/bin/false", code: 1 });
  });

  test("the default cache follows XDG_CACHE_HOME", () => {
    expect(defaultShimCacheDir({ XDG_CACHE_HOME: "/var/cache/x" })).toBe("/var/cache/x/ncn/sandbox");
  });
});

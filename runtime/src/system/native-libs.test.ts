import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EmbeddedNativeLib } from "../embedded.ts";
import { RuntimeError } from "../errors.ts";
import { type LibraryOpener, openNativeLibs } from "./native-libs.ts";

// Two real shared libraries of the same size: the one "embedded", and a planted one whose
// constructor leaves a marker file the moment anything loads it.
const root = mkdtempSync(join(tmpdir(), "ncn-native-libs-"));
const marker = join(root, "planted-code-ran");
let good: Uint8Array;
let evil: Uint8Array;
let lib: EmbeddedNativeLib;
let n = 0;

function compile(name: string, source: string): Uint8Array {
  const c = join(root, `${name}.c`);
  const so = join(root, `${name}.so`);
  writeFileSync(c, source);
  const r = Bun.spawnSync(["cc", "-shared", "-fPIC", "-O1", "-o", so, c]);
  if (r.exitCode !== 0) throw new Error(`cc failed: ${r.stderr.toString()}`);
  return new Uint8Array(readFileSync(so));
}

function padded(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  out.set(bytes);
  return out;
}

beforeAll(() => {
  const g = compile("good", "void *ncn_probe(void) { return 0; }\n");
  const e = compile(
    "evil",
    `#include <stdio.h>
void *ncn_probe(void) { return 0; }
__attribute__((constructor)) static void run(void) { FILE *f = fopen(${JSON.stringify(marker)}, "w"); if (f) fclose(f); }
`,
  );
  const size = Math.max(g.byteLength, e.byteLength) + 64;
  good = padded(g, size);
  evil = padded(e, size);
  const path = join(root, "embedded-libgood.so");
  writeFileSync(path, good);
  lib = {
    soname: "libgood.so",
    path,
    symbol: "ncn_probe",
    size,
    sha256: createHash("sha256").update(good).digest("hex"),
  };
});

afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A fresh data folder, its native folder, and where the library is extracted. */
function dataDir(): { native: string; target: string } {
  const data = join(root, `data-${++n}`);
  mkdirSync(data, { mode: 0o700 });
  const native = join(data, "native");
  return { native, target: join(native, lib.sha256.slice(0, 16), lib.soname) };
}

function plant(target: string, bytes: Uint8Array): void {
  mkdirSync(join(target, ".."), { recursive: true, mode: 0o700 });
  writeFileSync(target, bytes);
}

/** Records the sha256 of what each open was given, at the moment it was opened. */
function recorder(): { open: LibraryOpener; seen: string[] } {
  const seen: string[] = [];
  return {
    seen,
    open: (path) => {
      seen.push(createHash("sha256").update(readFileSync(path)).digest("hex"));
    },
  };
}

const AS_ROOT = process.getuid?.() === 0;
const sha = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

describe("openNativeLibs", () => {
  test("a planted library of the same size is replaced before dlopen: its code never runs", async () => {
    const { native, target } = dataDir();
    plant(target, evil);
    expect(lstatSync(target).size).toBe(lib.size);
    expect(await openNativeLibs([lib], native)).toEqual([target]);
    expect(existsSync(marker)).toBe(false);
    expect(sha(readFileSync(target))).toBe(lib.sha256);
  });

  test("the planted library would run if loaded (the attack is real)", () => {
    const { target } = dataDir();
    plant(target, evil);
    const load = `require("bun:ffi").dlopen(${JSON.stringify(target)}, { ncn_probe: { args: [], returns: "ptr" } })`;
    const r = Bun.spawnSync([process.execPath, "-e", load]);
    expect(r.stderr.toString()).toBe("");
    expect(existsSync(marker)).toBe(true);
    rmSync(marker);
  });

  test("the right bytes are still replaced when others may write them, own them, or they are a link", async () => {
    const cases: ((target: string) => void)[] = [
      (t) => {
        plant(t, good);
        chmodSync(t, 0o666);
      },
      (t) => {
        const elsewhere = join(root, `elsewhere-${n}.so`);
        writeFileSync(elsewhere, good);
        mkdirSync(join(t, ".."), { recursive: true, mode: 0o700 });
        symlinkSync(elsewhere, t);
      },
    ];
    // Files of another user can be made only as root (as the test machines run).
    if (AS_ROOT)
      cases.push((t) => {
        plant(t, good);
        chownSync(t, 65534, 65534);
      });
    for (const setup of cases) {
      const { native, target } = dataDir();
      setup(target);
      const r = recorder();
      await openNativeLibs([lib], native, r.open);
      expect(r.seen).toEqual([lib.sha256]);
      const st = lstatSync(target);
      expect(st.isFile()).toBe(true);
      expect(st.uid).toBe(process.getuid?.() ?? st.uid);
      expect(st.mode & 0o022).toBe(0);
    }
  });

  test("an intact copy is kept; a loose folder is tightened; a folder of another user is refused, nothing opened", async () => {
    const { native, target } = dataDir();
    const first = recorder();
    await openNativeLibs([lib], native, first.open);
    const ino = lstatSync(target).ino;
    chmodSync(native, 0o777);
    const again = recorder();
    await openNativeLibs([lib], native, again.open);
    expect(lstatSync(target).ino).toBe(ino);
    expect(lstatSync(native).mode & 0o022).toBe(0);
    expect(again.seen).toEqual([lib.sha256]);

    if (!AS_ROOT) return;
    const other = dataDir();
    mkdirSync(other.native, { mode: 0o755 });
    chownSync(other.native, 65534, 65534);
    const refused = recorder();
    let err: unknown;
    try {
      await openNativeLibs([lib], other.native, refused.open);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RuntimeError);
    expect((err as RuntimeError).code).toBe("FORBIDDEN");
    expect(refused.seen).toEqual([]);
  });
});

import { dlopen } from "bun:ffi";
import { dirname, join } from "node:path";
import { type EmbeddedNativeLib, embeddedAssets } from "../embedded.ts";
import { RuntimeError } from "../errors.ts";
import { installVerified } from "./verified-file.ts";

let loaded: Promise<string[]> | undefined;
let libDir: string | undefined;

/** Where embedded shared libraries are written before they are opened (set once at start-up). */
export function setNativeLibDir(dir: string): void {
  libDir = dir;
}

/**
 * Writes every shared library embedded in the executable to the cache folder and opens
 * it, so that the native addons loaded afterwards (onnxruntime, sharp) find their
 * dependencies already in the process. A no-op when running from source.
 */
export function ensureNativeLibs(): Promise<string[]> {
  loaded ??= (async () => {
    const libs = embeddedAssets().nativeLibs;
    if (libs.length === 0) return [];
    if (!libDir) throw new RuntimeError("INTERNAL", "native library folder not set before loading runtimes");
    return await openNativeLibs(libs, libDir);
  })();
  return loaded;
}

/** Opens a library and resolves `symbol` in it, proving it loaded. */
export type LibraryOpener = (path: string, symbol: string) => void;

const openWithFfi: LibraryOpener = (path, symbol) => {
  dlopen(path, { [symbol]: { args: [], returns: "ptr" } });
};

/**
 * Extracts each library into `dir` (under a folder named by its sha256) and opens it. A copy
 * already there is opened only when it is exactly the one embedded (sha256 recorded at build
 * time), owned by this user and writable by nobody else, in folders likewise (the data
 * folder included); otherwise it is replaced first: another local user who can plant a file
 * there must never get it loaded.
 *
 * @example await openNativeLibs(embeddedAssets().nativeLibs, join(dataDir, "native"))
 */
export async function openNativeLibs(
  libs: readonly EmbeddedNativeLib[],
  dir: string,
  open: LibraryOpener = openWithFfi,
): Promise<string[]> {
  const opened: string[] = [];
  for (const lib of libs) {
    const target = join(dir, lib.sha256.slice(0, 16), lib.soname);
    await installVerified(dirname(dir), target, { sha256: lib.sha256, size: lib.size }, () =>
      Bun.file(lib.path).bytes(),
    );
    try {
      open(target, lib.symbol);
    } catch (e) {
      throw new RuntimeError("UNAVAILABLE", `cannot load ${lib.soname}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    opened.push(target);
  }
  return opened;
}

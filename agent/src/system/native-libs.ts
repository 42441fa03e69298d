import { dlopen } from "bun:ffi";
import { existsSync, mkdirSync, renameSync, statSync } from "node:fs";
import { join } from "node:path";
import { embeddedAssets } from "../embedded.ts";
import { AgentError } from "../errors.ts";

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
  loaded ??= load();
  return loaded;
}

async function load(): Promise<string[]> {
  const libs = embeddedAssets().nativeLibs;
  if (libs.length === 0) return [];
  const dir = libDir;
  if (!dir) throw new AgentError("INTERNAL", "native library folder not set before loading runtimes");
  mkdirSync(dir, { recursive: true });
  const opened: string[] = [];
  for (const lib of libs) {
    const target = join(dir, `${lib.size}`, lib.soname);
    if (!existsSync(target) || statSync(target).size !== lib.size) {
      mkdirSync(join(dir, `${lib.size}`), { recursive: true });
      const tmp = `${target}.${process.pid}.tmp`;
      await Bun.write(tmp, Bun.file(lib.path));
      renameSync(tmp, target);
    }
    try {
      dlopen(target, { [lib.symbol]: { args: [], returns: "ptr" } });
    } catch (e) {
      throw new AgentError("UNAVAILABLE", `cannot load ${lib.soname}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    opened.push(target);
  }
  return opened;
}

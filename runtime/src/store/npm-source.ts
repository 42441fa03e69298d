import { existsSync, realpathSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { startDir } from "@ncn/protocol/private-dir";
import { embeddedAssets } from "../embedded.ts";
import { RuntimeError } from "../errors.ts";

/** Splits `npm:<package>/<path>` into the package name (scoped or not) and the file path. */
export function parseNpmSource(source: string): { pkg: string; path: string } {
  const spec = source.replace(/^npm:/, "");
  const parts = spec.split("/");
  const nameParts = spec.startsWith("@") ? 2 : 1;
  const pkg = parts.slice(0, nameParts).join("/");
  const path = parts.slice(nameParts).join("/");
  const bad =
    !/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(pkg) ||
    path === "" ||
    parts.slice(nameParts).some((p) => p === ".." || p === "." || p === "");
  if (bad)
    throw new RuntimeError("INVALID_INPUT", `bad npm source "${source}": expected npm:<package>/<path>`);
  return { pkg, path };
}

/**
 * Finds the file an `npm:` source names: first among the files embedded in the
 * executable, then in the `node_modules` folders above the directory the agent started in and
 * above this module. Returns null when the package or file is not installed, or when a
 * symbolic link inside the package leads out of it (an `npm:` source names a package's
 * own files, nothing else on the disk).
 */
export function resolveNpmSource(source: string, searchFrom: readonly string[] = []): string | null {
  const { pkg, path } = parseNpmSource(source);
  const embedded = embeddedAssets().npmFiles[`${pkg}/${path}`];
  if (embedded) return embedded;
  const starts = [...searchFrom, startDir(), import.meta.dir];
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const root = join(dir, "node_modules", pkg);
      const candidate = join(root, path);
      if (existsSync(join(root, "package.json")) && existsSync(candidate) && staysInside(root, candidate))
        return candidate;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return null;
}

function staysInside(root: string, file: string): boolean {
  const rel = relative(realpathSync(root), realpathSync(file));
  return rel !== "" && rel !== ".." && !rel.startsWith(`..${sep}`) && !rel.startsWith(sep);
}

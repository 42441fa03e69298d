import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { embeddedAssets } from "../embedded.ts";
import { AgentError } from "../errors.ts";

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
  if (bad) throw new AgentError("INVALID_INPUT", `bad npm source "${source}": expected npm:<package>/<path>`);
  return { pkg, path };
}

/**
 * Finds the file an `npm:` source names: first among the files embedded in the
 * executable, then in the `node_modules` folders above the working directory and
 * above this module. Returns null when the package or file is not installed.
 */
export function resolveNpmSource(source: string, searchFrom: readonly string[] = []): string | null {
  const { pkg, path } = parseNpmSource(source);
  const embedded = embeddedAssets().npmFiles[`${pkg}/${path}`];
  if (embedded) return embedded;
  const starts = [...searchFrom, process.cwd(), import.meta.dir];
  for (const start of starts) {
    let dir = resolve(start);
    for (;;) {
      const candidate = join(dir, "node_modules", pkg, path);
      if (existsSync(join(dir, "node_modules", pkg, "package.json")) && existsSync(candidate))
        return candidate;
      const up = dirname(dir);
      if (up === dir) break;
      dir = up;
    }
  }
  return null;
}

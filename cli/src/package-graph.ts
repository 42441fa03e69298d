import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";

/**
 * Which workspaces each workspace may import, from the bottom up: the wire contract, then
 * what the peer roles share (model runtimes, contract bindings), then the roles, then the
 * tools that drive them. A role never imports another role: validators must not run the
 * agent's code, gateways must not run the registry's.
 */
export const LAYERS: Readonly<Record<string, readonly string[]>> = {
  protocol: [],
  runtime: ["protocol"],
  contracts: ["protocol"],
  agent: ["protocol", "runtime", "contracts"],
  registry: ["protocol", "runtime", "contracts"],
  "edge-gateway": ["protocol", "runtime", "contracts"],
  sdk: ["protocol", "runtime", "contracts"],
  cli: ["protocol", "runtime", "contracts", "agent", "registry", "edge-gateway", "sdk"],
  bench: ["protocol", "runtime", "contracts", "agent", "registry", "edge-gateway", "sdk", "cli"],
};

/** One workspace-to-workspace edge and where it is written. */
export interface PackageEdge {
  from: string;
  to: string;
  /** `package.json (dependencies)` or a source file, relative to the repository root. */
  where: string;
  /** What names the other workspace there: a package name or an import specifier. */
  via: string;
}

const SCOPE = "@ncn/";
const SKIP_DIRS = new Set(["node_modules", "dist", "out", "cache", "lib"]);
// from "x", import("x"), import "x", require("x"); type-only imports count too.
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*)["']([^"']+)["']/g;

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith(".") || SKIP_DIRS.has(name)) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...tsFiles(path));
    else if (/\.(ts|tsx|mts|cts)$/.test(name) && !name.endsWith(".d.ts")) out.push(path);
  }
  return out;
}

/** The workspace an import specifier reaches: by package name, or by a relative path into it. */
function targetOf(
  specifier: string,
  file: string,
  root: string,
  workspaces: readonly string[],
): string | null {
  if (specifier.startsWith(SCOPE)) return specifier.slice(SCOPE.length).split("/")[0] ?? null;
  if (!specifier.startsWith(".")) return null;
  const rel = relative(root, resolve(dirname(file), specifier));
  const top = rel.split(sep)[0] ?? "";
  return workspaces.includes(top) ? top : null;
}

/**
 * Every edge between workspaces of the repository at `root`: the `@ncn/*` entries of each
 * workspace's `package.json` (dependencies of every kind) and every import of another
 * workspace in its `.ts` files, tests included (by package name or by a relative path
 * that leaves the workspace).
 */
export function packageEdges(root: string): PackageEdge[] {
  const rootPkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { workspaces: string[] };
  const workspaces = rootPkg.workspaces;
  const edges: PackageEdge[] = [];
  for (const ws of workspaces) {
    const pkgPath = join(root, ws, "package.json");
    const pkg = JSON.parse(readFileSync(pkgPath, "utf8")) as Record<string, unknown>;
    for (const field of ["dependencies", "devDependencies", "peerDependencies", "optionalDependencies"]) {
      const deps = pkg[field];
      if (typeof deps !== "object" || deps === null) continue;
      for (const name of Object.keys(deps)) {
        if (name.startsWith(SCOPE))
          edges.push({
            from: ws,
            to: name.slice(SCOPE.length),
            where: `${ws}/package.json (${field})`,
            via: name,
          });
      }
    }
    if (!existsSync(join(root, ws))) continue;
    for (const file of tsFiles(join(root, ws))) {
      const text = readFileSync(file, "utf8");
      for (const m of text.matchAll(SPECIFIER)) {
        const specifier = m[1] ?? "";
        const to = targetOf(specifier, file, root, workspaces);
        if (to !== null && to !== ws)
          edges.push({ from: ws, to, where: relative(root, file), via: specifier });
      }
    }
  }
  return edges;
}

/**
 * The edges that break the layers, each as a line naming the file (or package.json) and
 * the import, e.g. `registry/src/validation/spot-check.ts imports @ncn/agent/onnx: ...`.
 * A workspace missing from `layers` is itself a violation: a new one must be placed.
 */
export function layerViolations(
  edges: readonly PackageEdge[],
  workspaces: readonly string[],
  layers: Readonly<Record<string, readonly string[]>> = LAYERS,
): string[] {
  const out: string[] = [];
  for (const ws of workspaces) {
    if (!layers[ws]) out.push(`workspace ${ws} has no layer: add it to LAYERS in package-graph.ts`);
  }
  for (const e of edges) {
    const allowed = layers[e.from];
    if (!allowed || allowed.includes(e.to)) continue;
    const may = allowed.length === 0 ? "no other workspace" : allowed.join(", ");
    out.push(`${e.where} imports ${e.via}: ${e.from} may import only ${may}, not ${e.to}`);
  }
  return out;
}

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { LAYERS, layerViolations, packageEdges } from "./package-graph.ts";

const ROOT = resolve(import.meta.dir, "../..");
const scratch = mkdtempSync(join(tmpdir(), "ncn-package-graph-"));

afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** A repository in a temp folder: files by path, the root package.json naming the workspaces. */
function repo(workspaces: string[], files: Record<string, string>): string {
  const root = mkdtempSync(join(scratch, "repo-"));
  const all: Record<string, string> = { "package.json": JSON.stringify({ workspaces }) };
  for (const ws of workspaces) all[`${ws}/package.json`] = JSON.stringify({ name: `@ncn/${ws}` });
  Object.assign(all, files);
  for (const [path, text] of Object.entries(all)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

describe("package graph", () => {
  test("every workspace keeps its layer (dependencies and imports, tests included)", () => {
    const workspaces = (
      JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { workspaces: string[] }
    ).workspaces;
    const edges = packageEdges(ROOT);
    const violations = layerViolations(edges, workspaces);
    if (violations.length > 0) console.error(`package layers broken:\n  ${violations.join("\n  ")}`);
    expect(violations).toEqual([]);
    // The scan sees the repository's real edges (an empty scan would pass vacuously).
    expect(edges.some((e) => e.from === "registry" && e.to === "runtime")).toBe(true);
    expect(edges.some((e) => e.from === "agent" && e.to === "runtime" && e.where.endsWith(".ts"))).toBe(true);
  });

  test("a role importing another role is reported with the file and the import", () => {
    const root = repo(["protocol", "runtime", "agent", "registry"], {
      "registry/package.json": JSON.stringify({
        name: "@ncn/registry",
        dependencies: { "@ncn/agent": "0.1.0" },
      }),
      "registry/src/spot-check.ts": 'import { tensorsClose } from "@ncn/agent/onnx";\n',
      "registry/src/reexec.test.ts": 'const m = await import("@ncn/agent");\n',
      "registry/src/ok.ts":
        'import type { Tensor } from "@ncn/protocol";\nimport { x } from "@ncn/runtime";\n',
    });
    const violations = layerViolations(packageEdges(root), ["protocol", "runtime", "agent", "registry"]);
    expect(violations).toEqual([
      "registry/package.json (dependencies) imports @ncn/agent: registry may import only protocol, runtime, contracts, not agent",
      "registry/src/reexec.test.ts imports @ncn/agent: registry may import only protocol, runtime, contracts, not agent",
      "registry/src/spot-check.ts imports @ncn/agent/onnx: registry may import only protocol, runtime, contracts, not agent",
    ]);
  });

  test("a relative path into another workspace counts, and the bottom layers import nothing above them", () => {
    const root = repo(["protocol", "runtime", "agent"], {
      "runtime/src/store.ts":
        'import { Agent } from "../../agent/src/agent.ts";\nimport { a } from "./a.ts";\n',
      "protocol/src/index.ts": 'export { ModelStore } from "@ncn/runtime";\n',
    });
    expect(layerViolations(packageEdges(root), ["protocol", "runtime", "agent"])).toEqual([
      "protocol/src/index.ts imports @ncn/runtime: protocol may import only no other workspace, not runtime",
      "runtime/src/store.ts imports ../../agent/src/agent.ts: runtime may import only protocol, not agent",
    ]);
  });

  test("a workspace without a layer is reported", () => {
    expect(layerViolations([], ["protocol", "wallet"])).toEqual([
      "workspace wallet has no layer: add it to LAYERS in package-graph.ts",
    ]);
    expect(Object.keys(LAYERS)).toContain("runtime");
  });
});

import { describe, expect, test } from "bun:test";
import { join } from "node:path";

/** Bundles one entry point for a browser-like runtime and lists the `node:` modules it imports. */
async function nodeImportsOf(entry: string): Promise<string[]> {
  const result = await Bun.build({
    entrypoints: [join(import.meta.dirname, entry)],
    target: "browser",
    format: "esm",
    // Left unresolved, a `node:` import stays visible in the output instead of failing the build.
    external: ["node:*"],
  });
  expect(result.success).toBe(true);
  const code = (await Promise.all(result.outputs.map((o) => o.text()))).join("\n");
  return [...new Set(code.match(/["']node:[a-z_/]+["']/g) ?? [])];
}

describe("entry points", () => {
  test("`@ncn/contracts/actions` bundles for a Worker or a browser: no node: module", async () => {
    expect(await nodeImportsOf("actions/index.ts")).toEqual([]);
  }, 30_000);

  test("`@ncn/contracts/dev` (and so `.`) needs Node: it spawns anvil", async () => {
    expect(await nodeImportsOf("dev/index.ts")).toContain('"node:child_process"');
  }, 30_000);
});

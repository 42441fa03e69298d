import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as abi from "./abi/index.ts";
import { forgeBuild, publishedContracts, readArtifact } from "./scripts/artifacts.ts";

// A fresh compile into a scratch folder, so the check neither trusts nor disturbs contracts/out.
const scratch = mkdtempSync(join(tmpdir(), "ncn-abi-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe("generated ABIs", () => {
  test("match a fresh forge build (run `npm run gen:abi -w @ncn/contracts` if this fails)", () => {
    forgeBuild({ outDir: join(scratch, "out"), cacheDir: join(scratch, "cache") });
    const published: Record<string, unknown> = abi;
    for (const c of publishedContracts) {
      const fresh = readArtifact(join(scratch, "out"), c.name);
      expect({ name: c.name, abi: published[`${c.ident}Abi`] }).toEqual({ name: c.name, abi: fresh.abi });
      expect({ name: c.name, bytecode: published[`${c.ident}Bytecode`] }).toEqual({
        name: c.name,
        bytecode: fresh.bytecode,
      });
    }
  }, 180_000);
});

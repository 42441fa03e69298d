// Writes contracts/test/fixtures/merkle.json (see merkle-fixture.ts).
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { repoRoot } from "./artifacts.ts";
import { buildMerkleFixture } from "./merkle-fixture.ts";

export const merkleFixturePath = join(repoRoot, "contracts", "test", "fixtures", "merkle.json");

writeFileSync(merkleFixturePath, `${JSON.stringify(buildMerkleFixture(), null, 2)}\n`);
const fmt = spawnSync(
  join(repoRoot, "node_modules", ".bin", "biome"),
  ["format", "--write", merkleFixturePath],
  {
    cwd: repoRoot,
    encoding: "utf8",
  },
);
if (fmt.status !== 0) throw new Error(`biome format failed:\n${fmt.stdout}\n${fmt.stderr}`);
process.stdout.write(`wrote ${merkleFixturePath}\n`);

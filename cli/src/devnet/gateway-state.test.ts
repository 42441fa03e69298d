import { expect, test } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { sweepOrphanGatewayStates } from "./devnet.ts";

test("gateway states in memory whose devnet folder is gone are swept; the others are left", () => {
  const root = mkdtempSync(join(tmpdir(), "ncn-shm-"));
  const live = mkdtempSync(join(tmpdir(), "ncn-live-devnet-"));
  try {
    const state = (name: string, owner?: string) => {
      mkdirSync(join(root, name));
      if (owner !== undefined) writeFileSync(join(root, name, "devnet-dir"), owner);
      return join(root, name);
    };
    const orphan = state("ncn-gateway-state-aaaa", join(tmpdir(), "ncn-devnet-that-is-gone"));
    const kept = state("ncn-gateway-state-bbbb", live);
    const unknown = state("ncn-gateway-state-cccc");
    const other = state("something-else", join(tmpdir(), "ncn-devnet-that-is-gone"));
    expect(sweepOrphanGatewayStates(root)).toBe(1);
    expect([existsSync(orphan), existsSync(kept), existsSync(unknown), existsSync(other)]).toEqual([
      false,
      true,
      true,
      true,
    ]);
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(live, { recursive: true, force: true });
  }
});

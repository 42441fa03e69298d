import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadOrCreatePeerKey } from "./peer-key.ts";

test("the peer key file is readable by its owner only, and a loose one is tightened on load", async () => {
  const root = mkdtempSync(join(tmpdir(), "ncn-peer-key-"));
  try {
    const path = join(root, "state", "peer.key");
    const first = await loadOrCreatePeerKey(path);
    expect(first.created).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);

    chmodSync(path, 0o644);
    const again = await loadOrCreatePeerKey(path);
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

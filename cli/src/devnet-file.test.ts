import { expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { DevnetFile, loadDevnetFile, writeDevnetFile } from "./devnet-file.ts";

const file: DevnetFile = v.parse(DevnetFile, {
  gateway: { url: "http://127.0.0.1:8787" },
  registries: [{ url: "http://127.0.0.1:7001", peerId: "12D3KooW" }],
  chain: {
    rpcUrl: "http://127.0.0.1:8545",
    chainId: 31337,
    contracts: {
      token: "0x0000000000000000000000000000000000000001",
      payment: "0x0000000000000000000000000000000000000002",
      validatorRegistry: "0x0000000000000000000000000000000000000003",
    },
  },
  client: {
    address: "0x0000000000000000000000000000000000000004",
    privateKey: `0x${"11".repeat(32)}`,
  },
});

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

test("devnet.json holds private keys: written 0600 in a 0700 folder, even over an older 0644 file", () => {
  const root = mkdtempSync(join(tmpdir(), "ncn-devnet-file-"));
  try {
    const dir = join(root, ".ncn");
    const path = writeDevnetFile(dir, file);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(dir)).toBe(0o700);
    expect(loadDevnetFile(path).client.privateKey).toBe(file.client.privateKey);

    chmodSync(path, 0o644);
    chmodSync(dir, 0o755);
    writeFileSync(path, "{}");
    writeDevnetFile(dir, file);
    expect(modeOf(path)).toBe(0o600);
    expect(modeOf(dir)).toBe(0o700);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

import { afterAll, expect, test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ANVIL_ADDRESSES, isPublishedDevKey } from "@ncn/protocol/devnet-keys";
import { keccak256, stringToHex } from "viem";
import { generatePrivateKey, mnemonicToAccount, privateKeyToAccount } from "viem/accounts";
import { ConfigError } from "../errors.ts";
import { keyFilePath, loadIdentity, peekIdentity } from "./identity.ts";

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), "ncn-id-"));
  dirs.push(d);
  return join(d, "data");
};

test("a key is generated once with mode 0600 and reused after", () => {
  const dir = temp();
  expect(peekIdentity(dir, undefined)).toBeNull();
  const first = loadIdentity(dir, undefined);
  expect(first.source).toBe("generated");
  expect(statSync(keyFilePath(dir)).mode & 0o777).toBe(0o600);
  const again = loadIdentity(dir, undefined);
  expect(again.source).toBe("file");
  expect(again.account.address).toBe(first.account.address);
  expect(peekIdentity(dir, undefined)).toBe(first.account.address);
});

test("a configured key wins; a key file readable by others is tightened; garbage is refused", () => {
  const dir = temp();
  const key = `0x${"42".repeat(32)}` as const;
  const configured = loadIdentity(dir, key);
  expect(configured.source).toBe("configured");
  expect(peekIdentity(dir, undefined)).toBeNull();
  loadIdentity(dir, undefined);
  chmodSync(keyFilePath(dir), 0o644);
  loadIdentity(dir, undefined);
  expect(statSync(keyFilePath(dir)).mode & 0o777).toBe(0o600);
  writeFileSync(keyFilePath(dir), "not a key\n");
  expect(() => loadIdentity(dir, undefined)).toThrow(ConfigError);
});

test("a key file named in the settings is used (tightened to 0600), never generated, and nothing lands in the data folder", () => {
  const dir = temp();
  const file = join(dir, "..", "operator.key");
  const key = `0x${"42".repeat(32)}` as const;
  writeFileSync(file, `${key}\n`, { mode: 0o644 });
  const id = loadIdentity(dir, undefined, undefined, file);
  expect(id.source).toBe("file");
  expect(id.account.address).toBe(loadIdentity(temp(), key).account.address);
  expect(statSync(file).mode & 0o777).toBe(0o600);
  expect(peekIdentity(dir, undefined, file)).toBe(id.account.address);
  expect(peekIdentity(dir, undefined)).toBeNull();
  expect(() => loadIdentity(dir, undefined, undefined, join(dir, "..", "missing.key"))).toThrow(ConfigError);
});

test("published development keys are known: anvil's accounts and the devnet's ncn-dev keys; a fresh key is not", () => {
  const anvil0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";
  const devAgent = keccak256(stringToHex("ncn-dev:agent-3"));
  for (const key of [anvil0, devAgent] as const)
    expect(isPublishedDevKey(privateKeyToAccount(key).address)).toBe(true);
  expect(isPublishedDevKey(privateKeyToAccount(generatePrivateKey()).address)).toBe(false);
  const mnemonic = "test test test test test test test test test test test junk";
  expect(ANVIL_ADDRESSES).toEqual(
    Array.from({ length: 20 }, (_, i) =>
      mnemonicToAccount(mnemonic, { addressIndex: i }).address.toLowerCase(),
    ),
  );
});

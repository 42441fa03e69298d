import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { signDigest } from "@ncn/protocol/secp256k1";
import type { Logger } from "@ncn/runtime/logger";
import * as v from "valibot";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { ConfigError } from "../errors.ts";

export const PrivateKey = v.pipe(
  v.string(),
  v.trim(),
  v.regex(/^(0x)?[0-9a-fA-F]{64}$/, "expected a 32-byte private key as 64 hex digits"),
  v.transform((s) => (s.startsWith("0x") ? s : `0x${s}`).toLowerCase() as `0x${string}`),
);

export interface Identity {
  account: PrivateKeyAccount;
  /** Where the key came from. */
  source: "configured" | "file" | "generated";
  /** The key file, when the key lives in one. */
  path?: string;
}

export const KEY_FILE = "agent.key";

export function keyFilePath(dataDir: string): string {
  return join(dataDir, KEY_FILE);
}

/**
 * The agent's signing key: the configured one, else the key file named by `keyFile`
 * (`--private-key-file`), else the key file in the data folder, else a new key written there
 * readable by its owner only (mode 0600).
 */
export function loadIdentity(
  dataDir: string,
  configured: `0x${string}` | undefined,
  log?: Logger,
  keyFile?: string,
): Identity {
  if (configured) return { account: signingAccount(configured), source: "configured" };
  if (keyFile) {
    if (!existsSync(keyFile)) throw new ConfigError([`--private-key-file: ${keyFile} does not exist`]);
    return { account: signingAccount(readKeyFile(keyFile, log)), source: "file", path: keyFile };
  }
  const path = keyFilePath(dataDir);
  if (existsSync(path)) return { account: signingAccount(readKeyFile(path, log)), source: "file", path };
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const key = generatePrivateKey();
  writeFileSync(path, `${key}\n`, { mode: 0o600, flag: "wx" });
  chmodSync(path, 0o600);
  const account = signingAccount(key);
  log?.info("generated a new agent key", { path, address: account.address });
  return { account, source: "generated", path };
}

function readKeyFile(path: string, log: Logger | undefined): `0x${string}` {
  const mode = statSync(path).mode & 0o777;
  if (mode & 0o077) {
    // Tighten rather than refuse: the key is the agent's identity, keep it private.
    chmodSync(path, 0o600);
    log?.warn("key file was readable by others; mode set to 0600", { path, mode: mode.toString(8) });
  }
  const r = v.safeParse(PrivateKey, readFileSync(path, "utf8"));
  if (!r.success) throw new ConfigError([`${path}: ${r.issues[0]?.message ?? "not a private key"}`]);
  return r.output;
}

/**
 * The account for a key, whose digest signing (receipts, receipt batches: every request)
 * goes through libsecp256k1 when its binding loads; the same signatures as viem's.
 */
export function signingAccount(key: `0x${string}`): PrivateKeyAccount {
  const account = privateKeyToAccount(key);
  return { ...account, sign: ({ hash }) => signDigest(hash, key) };
}

/** The address of the key in the data folder, without creating one. */
export function peekIdentity(
  dataDir: string,
  configured: `0x${string}` | undefined,
  keyFile?: string,
): `0x${string}` | null {
  if (configured) return privateKeyToAccount(configured).address;
  try {
    const r = v.safeParse(PrivateKey, readFileSync(keyFile ?? keyFilePath(dataDir), "utf8"));
    return r.success ? privateKeyToAccount(r.output).address : null;
  } catch {
    return null;
  }
}

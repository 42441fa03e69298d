import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from "@libp2p/crypto/keys";
import type { PrivateKey } from "@libp2p/interface";
import { RegistryError } from "../errors.ts";

/**
 * Loads the node's libp2p identity from `path` (protobuf bytes), generating an Ed25519 key
 * there on first start so a restarted node keeps its peer id.
 */
export async function loadOrCreatePeerKey(path: string): Promise<{ key: PrivateKey; created: boolean }> {
  if (existsSync(path)) {
    // A key file others can read (copied in, or left by an older version) is tightened.
    if ((statSync(path).mode & 0o077) !== 0) chmodSync(path, 0o600);
    try {
      return { key: privateKeyFromProtobuf(new Uint8Array(readFileSync(path))), created: false };
    } catch (e) {
      throw new RegistryError("INVALID_INPUT", `peer key file ${path} is not a libp2p private key`, {
        cause: e,
      });
    }
  }
  const key = await generateKeyPair("Ed25519");
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, privateKeyToProtobuf(key), { mode: 0o600 });
  chmodSync(path, 0o600);
  return { key, created: true };
}

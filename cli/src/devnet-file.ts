import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { Address, BaseError, parseJson, parseOrThrow } from "@ncn/protocol";
import * as v from "valibot";
import type { NameChain } from "./records.ts";

/** `.ncn/devnet.json`: what `ncn devnet` started, for the other commands and for people. */
export const DevnetFile = v.object({
  gateway: v.object({ url: v.string(), statusUrl: v.optional(v.string()) }),
  registries: v.array(
    v.object({ url: v.string(), peerId: v.string(), multiaddrs: v.optional(v.array(v.string())) }),
  ),
  chain: v.object({
    rpcUrl: v.string(),
    chainId: v.number(),
    contracts: v.object({ token: Address, payment: Address, validatorRegistry: Address }),
  }),
  client: v.object({
    address: Address,
    privateKey: v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{64}$/)),
    sessionId: v.optional(v.string()),
    /** An API key (`ncn-…`) on a second session of the client, for OpenAI-compatible clients. */
    apiKey: v.optional(v.string()),
  }),
  subnetOwner: v.optional(v.object({ address: Address, privateKey: v.string() })),
  subnets: v.optional(v.array(v.string())),
  startedAt: v.optional(v.string()),
});
export type DevnetFile = v.InferOutput<typeof DevnetFile>;

/** The devnet's chain, where its subnet and model names are claimed. */
export function nameChainOf(file: DevnetFile): NameChain {
  return {
    rpcUrl: file.chain.rpcUrl,
    chainId: file.chain.chainId,
    registry: file.chain.contracts.validatorRegistry,
  };
}

/** Finds `.ncn/devnet.json` in this folder or a parent. */
export function findDevnetFile(from = process.cwd()): string | undefined {
  let dir = resolve(from);
  for (;;) {
    const p = join(dir, ".ncn", "devnet.json");
    if (existsSync(p)) return p;
    const up = dirname(dir);
    if (up === dir) return undefined;
    dir = up;
  }
}

export function loadDevnetFile(path = findDevnetFile()): DevnetFile {
  if (!path) {
    throw new BaseError(
      "NOT_FOUND",
      "no .ncn/devnet.json here or above: start a devnet with `npm start` first",
    );
  }
  return parseOrThrow(DevnetFile, parseJson(readFileSync(path, "utf8"), path), path);
}

/**
 * Writes `.ncn/devnet.json` readable by its owner only: it holds the client's and the subnet
 * owner's private keys. The folder is made 0700; a file left by an older run is tightened too.
 */
export function writeDevnetFile(dir: string, file: DevnetFile): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  const path = join(dir, "devnet.json");
  writeFileSync(path, `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  // `mode` applies only when the file is created.
  chmodSync(path, 0o600);
  return path;
}

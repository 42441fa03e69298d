import { readFileSync } from "node:fs";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { type ChainConfig, chainValidatorSet } from "./chain.ts";
import { NcnClient } from "./client.ts";

const Hex = (bytes: number) => v.pipe(v.string(), v.regex(new RegExp(`^0x[0-9a-fA-F]{${bytes * 2}}$`)));

/** The parts of `.ncn/devnet.json` (what `npm start` writes) a client needs. */
const DevnetState = v.object({
  gateway: v.object({ url: v.string() }),
  chain: v.object({
    rpcUrl: v.string(),
    chainId: v.number(),
    contracts: v.object({ token: Hex(20), payment: Hex(20), validatorRegistry: Hex(20) }),
  }),
  client: v.object({ privateKey: Hex(32), sessionId: v.optional(Hex(32)) }),
});

/**
 * A client of a local devnet, from the state file `npm start` writes: its gateway, its chain
 * (receipts verified against the validator set there) and its funded client key, with the
 * client's open session registered. For Node and Bun (it reads a file); in a browser, build
 * an `NcnClient` from the same fields.
 *
 * @example
 * const client = await devnetClient(".ncn/devnet.json");
 * const res = await client.ocr({ subnet: "ocr", image });
 */
export async function devnetClient(path = ".ncn/devnet.json"): Promise<NcnClient> {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    throw new Error(
      `no devnet state at ${path}: start a devnet with \`npm start\` (${(e as Error).message})`,
    );
  }
  const parsed = v.safeParse(DevnetState, JSON.parse(text));
  if (!parsed.success) throw new Error(`${path} is not a devnet state file: ${parsed.issues[0]?.message}`);
  const s = parsed.output;
  const chain: ChainConfig = {
    rpcUrl: s.chain.rpcUrl,
    chainId: s.chain.chainId,
    contracts: {
      token: s.chain.contracts.token as `0x${string}`,
      payment: s.chain.contracts.payment as `0x${string}`,
      registry: s.chain.contracts.validatorRegistry as `0x${string}`,
    },
  };
  const client = new NcnClient({
    gatewayUrl: s.gateway.url,
    account: privateKeyToAccount(s.client.privateKey as `0x${string}`),
    validatorSet: chainValidatorSet(chain),
  });
  if (s.client.sessionId) await client.registerSession(s.client.sessionId as `0x${string}`);
  return client;
}

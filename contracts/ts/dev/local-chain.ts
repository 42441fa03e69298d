import { createTestClient, type Hex, http, keccak256, stringToHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { increaseTime, mine, setBalance } from "viem/actions";
import { createNcnClient } from "../client.ts";
import type { NcnContracts, NcnDeployment } from "../deployment.ts";
import { type AnvilInstance, type StartAnvilOptions, startAnvil } from "./anvil.ts";
import { type DeploySystemParameters, deploySystem } from "./deploy.ts";

/** Deterministic private key for a named devnet/test role (never use outside local chains). */
export function devKey(label: string): Hex {
  return keccak256(stringToHex(`ncn-dev:${label}`));
}

/** An anvil with the NCN system deployed and validators registered. */
export interface LocalChain {
  readonly anvil: AnvilInstance;
  readonly deployment: NcnDeployment;
  readonly contracts: NcnContracts;
  /** Deployer and governance (admin, minter, slasher). */
  readonly deployerKey: Hex;
  /** Registered validator keys, in active-set order. */
  readonly validatorKeys: readonly Hex[];
  /** Wallet client (with public actions) for `key`. */
  client(key: Hex): ReturnType<typeof createNcnClient>;
  /** Moves chain time forward by `seconds` and mines a block. */
  advanceTime(seconds: number): Promise<void>;
  /** Gives `address` ether for gas (anvil_setBalance). */
  fundEther(address: Hex, wei?: bigint): Promise<void>;
  stop(): Promise<void>;
}

export interface StartLocalChainOptions {
  /** Number of validators to register (default 5). */
  validators?: number;
  anvil?: StartAnvilOptions;
  /** Overrides for the deployment (threshold, fees, fund, faucet, ...). */
  deploy?: Omit<DeploySystemParameters, "rpcUrl" | "deployerKey" | "validators">;
}

/**
 * Starts anvil, deploys the system with `validators` registered validators and returns handles.
 * Keys come from {@link devKey}; the deployer is funded with anvil_setBalance.
 *
 * @example
 * const chain = await startLocalChain();
 * try { const gateway = chain.client(devKey("gateway")); ... } finally { await chain.stop(); }
 */
export async function startLocalChain(options: StartLocalChainOptions = {}): Promise<LocalChain> {
  const anvil = await startAnvil(options.anvil);
  try {
    const test = createTestClient({ mode: "anvil", transport: http(anvil.url), cacheTime: 0 });
    const fundEther = (address: Hex, wei = 10n ** 24n) => setBalance(test, { address, value: wei });
    const deployerKey = devKey("deployer");
    await fundEther(privateKeyToAccount(deployerKey).address);
    const validatorKeys = Array.from({ length: options.validators ?? 5 }, (_, i) => devKey(`validator-${i}`));
    const deployment = await deploySystem({
      ...options.deploy,
      rpcUrl: anvil.url,
      deployerKey,
      validators: validatorKeys.map((key) => ({ key })),
    });
    const contracts = { token: deployment.token, registry: deployment.registry, payment: deployment.payment };
    return {
      anvil,
      deployment,
      contracts,
      deployerKey,
      validatorKeys,
      client: (key) => createNcnClient({ rpcUrl: anvil.url, chainId: deployment.chainId, account: key }),
      advanceTime: async (seconds) => {
        await increaseTime(test, { seconds });
        await mine(test, { blocks: 1 });
      },
      fundEther,
      stop: () => anvil.stop(),
    };
  } catch (err) {
    await anvil.stop();
    throw err;
  }
}

import {
  createNcnClient,
  createNcnReadClient,
  initiateEscrow,
  type NcnContracts,
  openSession,
  readValidatorSet,
  topUpSession,
} from "@ncn/contracts/actions";
import { idToBytes32 } from "@ncn/protocol";
import type { LocalAccount } from "viem";
import type { ValidatorSet } from "./verify.ts";

export interface ChainConfig {
  rpcUrl: string;
  chainId: number;
  contracts: NcnContracts;
}

/**
 * Reads the active validator set and threshold from the chain (cached for `ttlMs`), for
 * offline receipt verification.
 */
export function chainValidatorSet(chain: ChainConfig, ttlMs = 10_000): () => Promise<ValidatorSet> {
  const client = createNcnReadClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId });
  let cached: { at: number; set: ValidatorSet } | undefined;
  return async () => {
    if (cached && Date.now() - cached.at < ttlMs) return cached.set;
    const s = await readValidatorSet(client, chain.contracts);
    cached = {
      at: Date.now(),
      set: { validators: s.validators.map((a) => a.toLowerCase()), threshold: s.threshold },
    };
    return cached.set;
  };
}

/** Opens a prepaid session for `gateway` from `account` (approves NCN first). */
export async function openPaymentSession(
  chain: ChainConfig,
  account: LocalAccount,
  params: { gateway: `0x${string}`; amount: bigint; expiresInSeconds: number },
): Promise<{ sessionId: `0x${string}`; salt: `0x${string}` }> {
  const client = createNcnClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, account });
  const expiry = BigInt(Math.floor(Date.now() / 1000) + params.expiresInSeconds);
  const { sessionId, salt } = await openSession(client, chain.contracts, {
    gateway: params.gateway,
    amount: params.amount,
    expiry,
  });
  return { sessionId, salt };
}

/** Adds `amount` to a session (and optionally extends it). */
export async function topUpPaymentSession(
  chain: ChainConfig,
  account: LocalAccount,
  params: { sessionId: `0x${string}`; amount: bigint; expiresInSeconds?: number },
): Promise<void> {
  const client = createNcnClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, account });
  const expiry = params.expiresInSeconds
    ? BigInt(Math.floor(Date.now() / 1000) + params.expiresInSeconds)
    : 0n;
  await topUpSession(client, chain.contracts, { sessionId: params.sessionId, amount: params.amount, expiry });
}

/** Escrows the price of one request on chain (per-request mode). */
export async function payEscrow(
  chain: ChainConfig,
  account: LocalAccount,
  params: {
    requestId: string;
    subnet: string;
    gateway: `0x${string}`;
    amount: bigint;
    expiresInSeconds: number;
  },
): Promise<void> {
  const client = createNcnClient({ rpcUrl: chain.rpcUrl, chainId: chain.chainId, account });
  await initiateEscrow(client, chain.contracts, {
    requestId: idToBytes32(params.requestId),
    subnetId: idToBytes32(params.subnet),
    gateway: params.gateway,
    amount: params.amount,
    expiry: BigInt(Math.floor(Date.now() / 1000) + params.expiresInSeconds),
  });
}

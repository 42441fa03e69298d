import { createNcnClient, type NcnContracts, type WriteClient } from "@ncn/contracts/actions";
import { Address, BaseError, parseOrThrow } from "@ncn/protocol";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { getChainId } from "viem/actions";
import { findDevnetFile, loadDevnetFile } from "../devnet-file.ts";

/** Where `ncn key` works: the paying wallet on a chain, and the gateway its sessions are for. */
export interface KeyWallet {
  client: WriteClient;
  contracts: Pick<NcnContracts, "payment" | "token">;
  gatewayUrl: string;
  /** The gateway's address on chain (what its sessions name). */
  gateway: Address;
}

/** Flags and environment `ncn key` reads its wallet and chain from. */
export interface KeyWalletOptions {
  gatewayUrl?: string | undefined;
  rpcUrl?: string | undefined;
  paymentContract?: string | undefined;
  tokenContract?: string | undefined;
  /** The wallet's private key (from the environment: never a flag, it would show in the process list). */
  privateKey?: string | undefined;
  fetch?: typeof fetch;
}

const PrivateKey = v.pipe(
  v.string(),
  v.regex(/^0x[0-9a-fA-F]{64}$/, "expected 0x + 64 hex digits"),
  v.transform((s) => s.toLowerCase() as `0x${string}`),
);

/** What `GET /v1/gateway` answers. */
const GatewayInfo = v.object({
  chainId: v.number(),
  paymentContract: Address,
  token: Address,
  gateway: Address,
});

/**
 * The wallet (`NCN_PRIVATE_KEY`, else the devnet's client), the chain (`--rpc-url` /
 * `NCN_RPC_URL`, `--payment-contract` / `NCN_PAYMENT_CONTRACT`, `--token` / `NCN_TOKEN`, else the
 * devnet's) and the gateway (`--gateway`, else the devnet's). The gateway says only its own
 * address: the contracts come from this side, and a gateway that names other ones is refused
 * (it could otherwise have the wallet approve its tokens to a contract of its choosing).
 */
export async function keyWallet(options: KeyWalletOptions): Promise<KeyWallet> {
  const given = [
    options.rpcUrl,
    options.paymentContract,
    options.tokenContract,
    options.privateKey,
    options.gatewayUrl,
  ];
  const devnetPath = given.every((o) => o !== undefined) ? undefined : findDevnetFile();
  const devnet = devnetPath ? loadDevnetFile(devnetPath) : undefined;
  const rpcUrl = options.rpcUrl ?? devnet?.chain.rpcUrl;
  const payment = options.paymentContract ?? devnet?.chain.contracts.payment;
  const token = options.tokenContract ?? devnet?.chain.contracts.token;
  const key = options.privateKey ?? devnet?.client.privateKey;
  const gatewayUrl = (options.gatewayUrl ?? devnet?.gateway.url)?.replace(/\/$/, "");
  const missing = [
    rpcUrl === undefined && "--rpc-url (or NCN_RPC_URL)",
    payment === undefined && "--payment-contract (or NCN_PAYMENT_CONTRACT)",
    token === undefined && "--token (or NCN_TOKEN)",
    key === undefined && "NCN_PRIVATE_KEY",
    gatewayUrl === undefined && "--gateway",
  ].filter((m): m is string => m !== false);
  if (
    rpcUrl === undefined ||
    payment === undefined ||
    token === undefined ||
    key === undefined ||
    gatewayUrl === undefined
  ) {
    throw new BaseError("INVALID_INPUT", `no devnet here, and not given: ${missing.join(", ")}`);
  }
  const paymentAddress = parseOrThrow(Address, payment, "--payment-contract");
  const tokenAddress = parseOrThrow(Address, token, "--token");
  let info: v.InferOutput<typeof GatewayInfo>;
  try {
    const res = await (options.fetch ?? fetch)(`${gatewayUrl}/v1/gateway`);
    info = parseOrThrow(GatewayInfo, await res.json(), `${gatewayUrl}/v1/gateway`);
  } catch (e) {
    throw new BaseError("UNAVAILABLE", `cannot read the gateway's address from ${gatewayUrl}/v1/gateway`, {
      cause: e,
    });
  }
  if (info.paymentContract !== paymentAddress) {
    throw new BaseError("CONFLICT", "the gateway settles with another payment contract than this wallet's", {
      details: { gateway: info.paymentContract, wallet: paymentAddress },
    });
  }
  const client = createNcnClient({
    rpcUrl,
    chainId: info.chainId,
    account: privateKeyToAccount(parseOrThrow(PrivateKey, key, "NCN_PRIVATE_KEY")),
  });
  const chainId = await getChainId(client);
  if (chainId !== info.chainId) {
    throw new BaseError("CONFLICT", "the gateway is on another chain than --rpc-url", {
      details: { gateway: info.chainId, rpc: chainId },
    });
  }
  return {
    client,
    contracts: { payment: paymentAddress, token: tokenAddress },
    gatewayUrl,
    gateway: info.gateway,
  };
}

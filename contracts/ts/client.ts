import {
  type Abi,
  type Account,
  BaseError,
  type Chain,
  type Client,
  type ContractFunctionArgs,
  type ContractFunctionName,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  decodeErrorResult,
  defineChain,
  type Hex,
  type HttpTransport,
  http,
  type PublicActions,
  type PublicClient,
  publicActions,
  type TransactionReceipt,
  type Transport,
  type WalletActions,
  type WalletRpcSchema,
  type WriteContractParameters,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { waitForTransactionReceipt, writeContract } from "viem/actions";
import { inferencePaymentAbi } from "./abi/inference-payment.ts";
import { ncnTokenAbi } from "./abi/ncn-token.ts";
import { validatorRegistryAbi } from "./abi/validator-registry.ts";
import { ContractsError } from "./errors.ts";

/** Any viem client (public, wallet or test) pointed at the chain. */
export type ReadClient = Client<Transport, Chain | undefined, Account | undefined>;
/** A client with an account that signs and sends transactions. */
export type WriteClient = Client<Transport, Chain | undefined, Account>;

/** A minimal chain definition for a devnet (or any EVM chain reached through one RPC URL). */
export function devnetChain(chainId: number, rpcUrl: string): Chain {
  return defineChain({
    id: chainId,
    name: chainId === 31337 ? "anvil" : `chain-${chainId}`,
    nativeCurrency: { name: "Ether", symbol: "ETH", decimals: 18 },
    rpcUrls: { default: { http: [rpcUrl] } },
  });
}

/** What {@link createNcnClient} returns: a wallet client with public actions. */
export type NcnWalletClient = Client<
  HttpTransport,
  Chain,
  Account,
  WalletRpcSchema,
  WalletActions<Chain, Account> & PublicActions<HttpTransport, Chain, Account>
>;
/** What {@link createNcnReadClient} returns. */
export type NcnReadClient = PublicClient<HttpTransport, Chain>;

export interface CreateNcnClientOptions {
  rpcUrl: string;
  chainId: number;
  /** Receipt/block polling interval in ms (default 25: right for anvil; use ~250+ on public chains). */
  pollingInterval?: number;
}

/**
 * Wallet client with public actions, for an account given as a viem Account or a private key.
 *
 * @example
 * const client = createNcnClient({ rpcUrl: anvil.url, chainId: 31337, account: "0xac09…" });
 */
export function createNcnClient(
  options: CreateNcnClientOptions & { account: Account | Hex },
): NcnWalletClient {
  const account =
    typeof options.account === "string" ? privateKeyToAccount(options.account) : options.account;
  return createWalletClient({
    account,
    chain: devnetChain(options.chainId, options.rpcUrl),
    transport: http(options.rpcUrl),
    pollingInterval: options.pollingInterval ?? 25,
    cacheTime: 0,
  }).extend(publicActions);
}

/** Read-only client. */
export function createNcnReadClient(options: CreateNcnClientOptions): NcnReadClient {
  return createPublicClient({
    chain: devnetChain(options.chainId, options.rpcUrl),
    transport: http(options.rpcUrl),
    pollingInterval: options.pollingInterval ?? 25,
    cacheTime: 0,
  });
}

/**
 * Sends a contract call from the client's account and waits for it (see {@link confirm}). A call
 * that would revert fails before sending, with the contract's custom error (see {@link revertOf}).
 *
 * @example
 * await writeAndConfirm(client, { address: token, abi: ncnTokenAbi, functionName: "mint", args: [to, amount] });
 */
export async function writeAndConfirm<
  const abi extends Abi | readonly unknown[],
  functionName extends ContractFunctionName<abi, "nonpayable" | "payable">,
  args extends ContractFunctionArgs<abi, "nonpayable" | "payable", functionName>,
>(
  client: WriteClient,
  request: Omit<
    WriteContractParameters<abi, functionName, args, Chain | undefined, Account>,
    "account" | "chain"
  >,
): Promise<TransactionReceipt> {
  // The spread loses the correlation between functionName and args that the caller's type already checked.
  const full = { ...request, account: client.account, chain: client.chain } as WriteContractParameters<
    abi,
    functionName,
    args,
    Chain | undefined,
    Account
  >;
  return confirm(client, await writeContract(client, full));
}

/** Waits for a transaction and fails with TRANSACTION_REVERTED unless it succeeded. */
export async function confirm(client: ReadClient, hash: Hex): Promise<TransactionReceipt> {
  const receipt = await waitForTransactionReceipt(client, { hash, pollingInterval: client.pollingInterval });
  if (receipt.status !== "success") {
    throw new ContractsError("TRANSACTION_REVERTED", `transaction ${hash} reverted`, { details: { hash } });
  }
  return receipt;
}

/** Decoded custom error of a reverted contract call, if `err` carries one. */
export interface Revert {
  errorName: string;
  args: readonly unknown[];
}

/**
 * Finds the contract's custom error inside an error thrown by an action.
 *
 * @example
 * try { await settleBatch(...) } catch (e) { if (revertOf(e)?.errorName === "BatchAlreadySettled") ... }
 */
export function revertOf(err: unknown): Revert | undefined {
  if (!(err instanceof BaseError)) return undefined;
  const reverted = err.walk((e) => e instanceof ContractFunctionRevertedError);
  if (!(reverted instanceof ContractFunctionRevertedError)) return undefined;
  if (reverted.data) return { errorName: reverted.data.errorName, args: reverted.data.args ?? [] };
  // An error bubbled up from another NCN contract (e.g. the registry under settleBatch, the
  // token under a deposit) is not in the called contract's ABI: decode it against all of them.
  if (!reverted.raw) return undefined;
  try {
    const decoded = decodeErrorResult({ abi: allErrors, data: reverted.raw });
    return { errorName: decoded.errorName, args: decoded.args ?? [] };
  } catch {
    return undefined;
  }
}

const allErrors = [...inferencePaymentAbi, ...validatorRegistryAbi, ...ncnTokenAbi].filter(
  (i) => i.type === "error",
);

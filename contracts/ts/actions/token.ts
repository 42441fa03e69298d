import type { Address, Hex, TransactionReceipt } from "viem";
import { parseSignature } from "viem";
import { readContract, signTypedData } from "viem/actions";
import { ncnTokenAbi } from "../abi/ncn-token.ts";
import { type ReadClient, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";

/** Mints NCN (the client's account needs MINTER_ROLE). */
export async function mintTokens(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
  params: { to: Address; amount: bigint },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "mint",
    args: [params.to, params.amount],
  });
}

/** Approves `spender` to pull `amount` NCN from the client's account. */
export async function approveTokens(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
  params: { spender: Address; amount: bigint },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "approve",
    args: [params.spender, params.amount],
  });
}

/** Sends `amount` NCN from the client's account to `to`. */
export async function transferTokens(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
  params: { to: Address; amount: bigint },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "transfer",
    args: [params.to, params.amount],
  });
}

/** Mints the faucet amount to the client's account (when the faucet is on). */
export async function claimFaucet(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "claimFaucet",
  });
}

/** NCN balance of `account`. */
export function tokenBalance(
  client: ReadClient,
  contracts: Pick<NcnContracts, "token">,
  account: Address,
): Promise<bigint> {
  return readContract(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "balanceOf",
    args: [account],
  });
}

/** NCN allowance from `owner` to `spender`. */
export function tokenAllowance(
  client: ReadClient,
  contracts: Pick<NcnContracts, "token">,
  params: { owner: Address; spender: Address },
): Promise<bigint> {
  return readContract(client, {
    address: contracts.token,
    abi: ncnTokenAbi,
    functionName: "allowance",
    args: [params.owner, params.spender],
  });
}

/** EIP-2612 Permit type. */
export const permitTypes = {
  Permit: [
    { name: "owner", type: "address" },
    { name: "spender", type: "address" },
    { name: "value", type: "uint256" },
    { name: "nonce", type: "uint256" },
    { name: "deadline", type: "uint256" },
  ],
} as const;

/** An EIP-2612 permit signature split the way the `*WithPermit` functions take it. */
export interface PermitSignature {
  deadline: bigint;
  v: number;
  r: Hex;
  s: Hex;
}

/**
 * Signs an EIP-2612 permit for `spender` over `value` with the client's account (no transaction).
 * The token's domain is read on chain (ERC-5267), so it always matches the deployed token.
 */
export async function signPermit(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
  params: { spender: Address; value: bigint; deadline: bigint },
): Promise<PermitSignature> {
  const owner = client.account.address;
  const [domain, nonce] = await Promise.all([
    readContract(client, { address: contracts.token, abi: ncnTokenAbi, functionName: "eip712Domain" }),
    readContract(client, {
      address: contracts.token,
      abi: ncnTokenAbi,
      functionName: "nonces",
      args: [owner],
    }),
  ]);
  const [, name, version, chainId, verifyingContract] = domain;
  const signature = await signTypedData(client, {
    account: client.account,
    domain: { name, version, chainId, verifyingContract },
    types: permitTypes,
    primaryType: "Permit",
    message: { owner, spender: params.spender, value: params.value, nonce, deadline: params.deadline },
  });
  const { r, s, v, yParity } = parseSignature(signature);
  return { deadline: params.deadline, v: Number(v ?? BigInt(yParity + 27)), r, s };
}

/** How a deposit is authorised: a separate approve transaction, an EIP-2612 permit, or an allowance already in place. */
export type Approval = "approve" | "permit" | "none";

/**
 * The authorisation step before a deposit of `amount` to `spender`: sends an approve ("approve"),
 * signs a permit to hand to a `*WithPermit` function ("permit"), or does nothing ("none").
 */
export async function authorizeDeposit(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
  params: { approval: Approval; spender: Address; amount: bigint; deadline: bigint },
): Promise<PermitSignature | undefined> {
  if (params.approval === "permit") {
    return signPermit(client, contracts, {
      spender: params.spender,
      value: params.amount,
      deadline: params.deadline,
    });
  }
  if (params.approval === "approve") {
    await approveTokens(client, contracts, { spender: params.spender, amount: params.amount });
  }
  return undefined;
}

import type { Address, Hex } from "viem";
import { parseSignature } from "viem";
import { readContract, signTypedData } from "viem/actions";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import type { WriteClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

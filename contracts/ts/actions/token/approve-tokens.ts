import type { Address, TransactionReceipt } from "viem";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

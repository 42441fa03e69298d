import type { Address, TransactionReceipt } from "viem";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

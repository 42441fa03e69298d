import type { Address, TransactionReceipt } from "viem";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

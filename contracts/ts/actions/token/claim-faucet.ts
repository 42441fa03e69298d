import type { TransactionReceipt } from "viem";
import { ncnTokenAbi } from "../../abi/ncn-token.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

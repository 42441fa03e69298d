import type { TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Takes the stake back after unbonding. */
export async function withdrawStake(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "withdrawStake",
  });
}

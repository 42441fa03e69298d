import type { TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Sets the configured threshold M (governance); a majority of the active set is needed whatever M is. */
export async function setThreshold(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  threshold: number,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "setThreshold",
    args: [threshold],
  });
}

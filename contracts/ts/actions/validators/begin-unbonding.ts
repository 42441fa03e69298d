import type { TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Leaves the active set; the stake can be withdrawn after the unbonding delay. */
export async function beginUnbonding(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "beginUnbonding",
  });
}

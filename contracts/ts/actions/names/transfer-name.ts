import type { Address, TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { NameKind, type NameParameters } from "./name-kind.ts";

/** Hands a claimed name to another key (only its owner can). */
export async function transferName(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: NameParameters & { to: Address },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "transferName",
    args: [NameKind[params.kind], params.name, params.to],
  });
}

import { readContract } from "viem/actions";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { NameKind, type NameParameters } from "./name-kind.ts";

const ZERO_ADDRESS = "0x0000000000000000000000000000000000000000";

/** Owner of a subnet or model name on chain (lowercase), or null while nobody claimed it. */
export async function readNameOwner(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
  params: NameParameters,
): Promise<`0x${string}` | null> {
  const owner = await readContract(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "nameOwner",
    args: [NameKind[params.kind], params.name],
  });
  return owner === ZERO_ADDRESS ? null : (owner.toLowerCase() as `0x${string}`);
}

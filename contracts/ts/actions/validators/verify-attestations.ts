import type { Hex } from "viem";
import { readContract } from "viem/actions";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/**
 * Counts the distinct active validators that signed `digest` and compares with the threshold,
 * exactly as the contracts do when they accept an attestation.
 */
export async function verifyAttestations(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
  params: { digest: Hex; signatures: readonly Hex[] },
): Promise<{ ok: boolean; count: number; threshold: number }> {
  const [count, required] = await Promise.all([
    readContract(client, {
      address: contracts.registry,
      abi: validatorRegistryAbi,
      functionName: "countAttestations",
      args: [params.digest, params.signatures],
    }),
    readContract(client, {
      address: contracts.registry,
      abi: validatorRegistryAbi,
      functionName: "requiredAttestations",
    }),
  ]);
  return { ok: count >= required, count: Number(count), threshold: Number(required) };
}

import type { Address } from "viem";
import { readContract } from "viem/actions";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

export interface ValidatorSet {
  /** Active validator keys (N = length). */
  validators: Address[];
  /**
   * Distinct active signatures an attestation needs now: max(configured M, floor(N/2) + 1), so it
   * grows with the set (the contract's `requiredAttestations`).
   */
  threshold: number;
  maxValidators: number;
  minStake: bigint;
}

/** Active set, the attestations needed, maximum N and minimum stake, read with parallel calls. */
export async function readValidatorSet(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
): Promise<ValidatorSet> {
  const address = contracts.registry;
  const abi = validatorRegistryAbi;
  const [validators, required, maxValidators, minStake] = await Promise.all([
    readContract(client, { address, abi, functionName: "activeValidators" }),
    readContract(client, { address, abi, functionName: "requiredAttestations" }),
    readContract(client, { address, abi, functionName: "maxValidators" }),
    readContract(client, { address, abi, functionName: "minStake" }),
  ]);
  return { validators: [...validators], threshold: Number(required), maxValidators, minStake };
}

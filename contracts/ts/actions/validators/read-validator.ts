import type { Address } from "viem";
import { readContract } from "viem/actions";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Validator status as stored on chain. */
export const ValidatorStatus = { None: 0, Active: 1, Inactive: 2, Unbonding: 3 } as const;
export type ValidatorStatus = (typeof ValidatorStatus)[keyof typeof ValidatorStatus];

export interface ValidatorState {
  stake: bigint;
  unbondingEnd: bigint;
  status: ValidatorStatus;
  index: number;
  jailed: boolean;
}

/** State of one validator key. */
export async function readValidator(
  client: ReadClient,
  contracts: Pick<NcnContracts, "registry">,
  validator: Address,
): Promise<ValidatorState> {
  const v = await readContract(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "getValidator",
    args: [validator],
  });
  return {
    stake: v.stake,
    unbondingEnd: v.unbondingEnd,
    status: v.status as ValidatorStatus,
    index: v.index,
    jailed: v.jailed,
  };
}

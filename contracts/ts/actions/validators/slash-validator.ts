import type { Address, Hex, TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Offences, in the order of the contract's enum. */
export const Offence = {
  DoubleSign: 0,
  InvalidSignature: 1,
  InvalidResult: 2,
  Collusion: 3,
  Downtime: 4,
} as const;
export type Offence = (typeof Offence)[keyof typeof Offence];

/** Governance slash for an offence proven off-chain. */
export async function slashValidator(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: { validator: Address; offence: Offence; evidence: Hex },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "slash",
    args: [params.validator, params.offence, params.evidence],
  });
}

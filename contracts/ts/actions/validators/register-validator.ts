import type { TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { type Approval, authorizeDeposit } from "../token/authorize-deposit.ts";

/** Registers the client's account as a validator with `stake` NCN and joins the active set. */
export async function registerValidator(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token" | "registry">,
  params: { stake: bigint; approval?: Approval },
): Promise<TransactionReceipt> {
  const permit = await authorizeDeposit(client, contracts, {
    approval: params.approval ?? "approve",
    spender: contracts.registry,
    amount: params.stake,
    deadline: BigInt(Math.floor(Date.now() / 1000) + 3600),
  });
  return permit
    ? writeAndConfirm(client, {
        address: contracts.registry,
        abi: validatorRegistryAbi,
        functionName: "registerWithPermit",
        args: [params.stake, permit.deadline, permit.v, permit.r, permit.s],
      })
    : writeAndConfirm(client, {
        address: contracts.registry,
        abi: validatorRegistryAbi,
        functionName: "register",
        args: [params.stake],
      });
}

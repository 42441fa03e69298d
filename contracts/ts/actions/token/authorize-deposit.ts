import type { Address } from "viem";
import type { WriteClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { approveTokens } from "./approve-tokens.ts";
import { type PermitSignature, signPermit } from "./sign-permit.ts";

/** How a deposit is authorised: a separate approve transaction, an EIP-2612 permit, or an allowance already in place. */
export type Approval = "approve" | "permit" | "none";

/**
 * The authorisation step before a deposit of `amount` to `spender`: sends an approve ("approve"),
 * signs a permit to hand to a `*WithPermit` function ("permit"), or does nothing ("none").
 */
export async function authorizeDeposit(
  client: WriteClient,
  contracts: Pick<NcnContracts, "token">,
  params: { approval: Approval; spender: Address; amount: bigint; deadline: bigint },
): Promise<PermitSignature | undefined> {
  if (params.approval === "permit") {
    return signPermit(client, contracts, {
      spender: params.spender,
      value: params.amount,
      deadline: params.deadline,
    });
  }
  if (params.approval === "approve") {
    await approveTokens(client, contracts, { spender: params.spender, amount: params.amount });
  }
  return undefined;
}

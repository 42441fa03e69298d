import type { Address, Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { type Approval, authorizeDeposit } from "../token/authorize-deposit.ts";
import { randomSalt } from "./random-salt.ts";
import { sessionIdOf } from "./session-id-of.ts";

export interface OpenSessionParameters {
  gateway: Address;
  amount: bigint;
  /** Unix seconds. */
  expiry: bigint;
  /** Defaults to {@link randomSalt}. */
  salt?: Hex;
  /** Default "approve". */
  approval?: Approval;
}

/**
 * Opens a session funded from the client's account.
 *
 * @example
 * const { sessionId, salt } = await openSession(client, contracts, { gateway, amount: 10n ** 18n, expiry });
 */
export async function openSession(
  client: WriteClient,
  contracts: NcnContracts,
  params: OpenSessionParameters,
): Promise<{ sessionId: Hex; salt: Hex; receipt: TransactionReceipt }> {
  const salt = params.salt ?? randomSalt();
  const permit = await authorizeDeposit(client, contracts, {
    approval: params.approval ?? "approve",
    spender: contracts.payment,
    amount: params.amount,
    deadline: params.expiry,
  });
  const receipt = permit
    ? await writeAndConfirm(client, {
        address: contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "openSessionWithPermit",
        args: [
          params.gateway,
          salt,
          params.amount,
          params.expiry,
          permit.deadline,
          permit.v,
          permit.r,
          permit.s,
        ],
      })
    : await writeAndConfirm(client, {
        address: contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "openSession",
        args: [params.gateway, salt, params.amount, params.expiry],
      });
  return { sessionId: sessionIdOf(client.account.address, params.gateway, salt), salt, receipt };
}

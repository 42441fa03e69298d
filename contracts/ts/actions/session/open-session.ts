import type { Address, Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { ContractsError } from "../../errors.ts";
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
  /**
   * A delegate voucher signer named at open time, in the same transaction (an API key's
   * address, see `setSessionSigner`). Its open has no permit form: "permit" is refused with it.
   */
  signer?: Address;
}

/**
 * Opens a session funded from the client's account.
 *
 * @example
 * const { sessionId, salt } = await openSession(client, contracts, { gateway, amount: 10n ** 18n, expiry });
 */
export async function openSession(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment" | "token">,
  params: OpenSessionParameters,
): Promise<{ sessionId: Hex; salt: Hex; receipt: TransactionReceipt }> {
  const salt = params.salt ?? randomSalt();
  if (params.signer !== undefined) {
    if (params.approval === "permit") {
      throw new ContractsError(
        "INVALID_ARGUMENT",
        "a session opened with a signer needs an allowance, not a permit",
        {
          details: { approval: params.approval },
        },
      );
    }
    await authorizeDeposit(client, contracts, {
      approval: params.approval ?? "approve",
      spender: contracts.payment,
      amount: params.amount,
      deadline: params.expiry,
    });
    const receipt = await writeAndConfirm(client, {
      address: contracts.payment,
      abi: inferencePaymentAbi,
      functionName: "openSessionWithSigner",
      args: [params.gateway, salt, params.amount, params.expiry, params.signer],
    });
    return { sessionId: sessionIdOf(client.account.address, params.gateway, salt), salt, receipt };
  }
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

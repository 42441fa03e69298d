import type { Address, Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { type Approval, authorizeDeposit } from "../token/authorize-deposit.ts";

export interface InitiateEscrowParameters {
  /** bytes32 request id (idToBytes32 of the client's id). */
  requestId: Hex;
  subnetId: Hex;
  gateway: Address;
  amount: bigint;
  /** Unix seconds after which the client can be refunded. */
  expiry: bigint;
  /** Default "approve". */
  approval?: Approval;
}

/** Escrows `amount` NCN from the client's account for one request. */
export async function initiateEscrow(
  client: WriteClient,
  contracts: NcnContracts,
  params: InitiateEscrowParameters,
): Promise<TransactionReceipt> {
  const base = [params.requestId, params.subnetId, params.gateway, params.amount, params.expiry] as const;
  const permit = await authorizeDeposit(client, contracts, {
    approval: params.approval ?? "approve",
    spender: contracts.payment,
    amount: params.amount,
    deadline: params.expiry,
  });
  return permit
    ? writeAndConfirm(client, {
        address: contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "initiateInferenceRequestWithPermit",
        args: [...base, permit.deadline, permit.v, permit.r, permit.s],
      })
    : writeAndConfirm(client, {
        address: contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "initiateInferenceRequest",
        args: base,
      });
}

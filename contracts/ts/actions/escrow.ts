import type { ReceiptMessage } from "@ncn/protocol";
import type { Address, Hex, TransactionReceipt } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../abi/inference-payment.ts";
import { type ReadClient, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";
import { type Approval, authorizeDeposit } from "./token.ts";

/** Escrow status as stored on chain. */
export const EscrowStatus = { None: 0, Pending: 1, Completed: 2, Refunded: 3 } as const;
export type EscrowStatus = (typeof EscrowStatus)[keyof typeof EscrowStatus];

export interface EscrowState {
  client: Address;
  expiry: bigint;
  status: EscrowStatus;
  gateway: Address;
  amount: bigint;
  subnetId: Hex;
}

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

/** Reads an escrowed request (status None when unknown). */
export async function readEscrow(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  requestId: Hex,
): Promise<EscrowState> {
  const e = await readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "getEscrow",
    args: [requestId],
  });
  return {
    client: e.client,
    expiry: e.expiry,
    status: e.status as EscrowStatus,
    gateway: e.gateway,
    amount: e.amount,
    subnetId: e.subnetId,
  };
}

/**
 * Pays an escrowed request from its receipt and M-of-N validator signatures over its completion
 * attestation. Only the escrow's gateway may send it (`NotEscrowGateway` otherwise).
 */
export async function completeEscrow(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { receipt: ReceiptMessage; validatorSignatures: readonly Hex[] },
): Promise<TransactionReceipt> {
  const r = params.receipt;
  return writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "completeInferenceRequest",
    args: [
      {
        requestId: r.requestId,
        subnetId: r.subnetId,
        modelId: r.modelId,
        modelHash: r.modelHash,
        inputHash: r.inputHash,
        outputHash: r.outputHash,
        agent: r.agent,
        price: r.price,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
      },
      params.validatorSignatures,
    ],
  });
}

/** Refunds an expired, still pending escrow to its client (anyone may send this). */
export async function refundExpiredEscrow(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  requestId: Hex,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "handleExpiredRequest",
    args: [requestId],
  });
}

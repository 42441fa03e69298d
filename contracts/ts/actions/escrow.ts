import type { ReceiptMessage } from "@ncn/protocol";
import type { Address, Hex, TransactionReceipt } from "viem";
import { readContract, writeContract } from "viem/actions";
import { inferencePaymentAbi } from "../abi/inference-payment.ts";
import { confirm, type ReadClient, type WriteClient } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";
import type { Approval } from "./session.ts";
import { approveTokens, signPermit } from "./token.ts";

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
  const approval = params.approval ?? "approve";
  const base = [params.requestId, params.subnetId, params.gateway, params.amount, params.expiry] as const;
  let hash: Hex;
  if (approval === "permit") {
    const p = await signPermit(client, contracts, {
      spender: contracts.payment,
      value: params.amount,
      deadline: params.expiry,
    });
    hash = await writeContract(client, {
      address: contracts.payment,
      abi: inferencePaymentAbi,
      functionName: "initiateInferenceRequestWithPermit",
      args: [...base, p.deadline, p.v, p.r, p.s],
      account: client.account,
      chain: client.chain,
    });
  } else {
    if (approval === "approve") {
      await approveTokens(client, contracts, { spender: contracts.payment, amount: params.amount });
    }
    hash = await writeContract(client, {
      address: contracts.payment,
      abi: inferencePaymentAbi,
      functionName: "initiateInferenceRequest",
      args: base,
      account: client.account,
      chain: client.chain,
    });
  }
  return confirm(client, hash);
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

/** Pays an escrowed request from its receipt and M-of-N validator signatures over its completion attestation. */
export async function completeEscrow(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { receipt: ReceiptMessage; validatorSignatures: readonly Hex[] },
): Promise<TransactionReceipt> {
  const r = params.receipt;
  const hash = await writeContract(client, {
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
    account: client.account,
    chain: client.chain,
  });
  return confirm(client, hash);
}

/** Refunds an expired, still pending escrow to its client (anyone may send this). */
export async function refundExpiredEscrow(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  requestId: Hex,
): Promise<TransactionReceipt> {
  const hash = await writeContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "handleExpiredRequest",
    args: [requestId],
    account: client.account,
    chain: client.chain,
  });
  return confirm(client, hash);
}

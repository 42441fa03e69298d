import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

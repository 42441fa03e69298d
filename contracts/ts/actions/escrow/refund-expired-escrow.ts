import type { Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

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

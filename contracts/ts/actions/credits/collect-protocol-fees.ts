import type { TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Pays the protocol fee pool to the treasury. Anyone may send it. */
export async function collectProtocolFees(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "collectProtocolFees",
  });
}

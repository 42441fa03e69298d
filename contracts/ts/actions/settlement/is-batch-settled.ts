import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Whether `gateway` already spent `batchId`: settled, or abandoned (see {@link readBatchAbandoned}). */
export function isBatchSettled(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { gateway: Address; batchId: Hex },
): Promise<boolean> {
  return readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "isBatchSettled",
    args: [params.gateway, params.batchId],
  });
}

import type { Address, Hex } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/**
 * Whether `gateway` abandoned `batchId`. An abandoned id also reads as spent in {@link isBatchSettled};
 * spent and not abandoned means settled.
 */
export function readBatchAbandoned(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { gateway: Address; batchId: Hex },
): Promise<boolean> {
  return readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "batchAbandoned",
    args: [params.gateway, params.batchId],
  });
}

import type { Address } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Withdrawable NCN credited to `account` by InferencePayment. */
export function creditOf(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  account: Address,
): Promise<bigint> {
  return readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "creditOf",
    args: [account],
  });
}

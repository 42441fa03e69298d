import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** Balances of the validator and protocol fee pools. */
export async function readFeePools(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
): Promise<{ validatorFees: bigint; protocolFees: bigint }> {
  const [validatorFees, protocolFees] = await readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "feePools",
  });
  return { validatorFees, protocolFees };
}

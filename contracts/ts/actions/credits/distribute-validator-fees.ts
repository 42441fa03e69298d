import { parseEventLogs, type TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { ContractsError } from "../../errors.ts";

/** Shares the validator fee pool equally between the active validators (as credits). Anyone may send it. */
export async function distributeValidatorFees(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
): Promise<{ amountEach: bigint; receipt: TransactionReceipt }> {
  const receipt = await writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "distributeValidatorFees",
  });
  const [log] = parseEventLogs({
    abi: inferencePaymentAbi,
    eventName: "ValidatorFeesDistributed",
    logs: receipt.logs,
  });
  if (!log)
    throw new ContractsError("EVENT_NOT_FOUND", "ValidatorFeesDistributed not emitted", {
      details: { hash: receipt.transactionHash },
    });
  return { amountEach: log.args.amountEach, receipt };
}

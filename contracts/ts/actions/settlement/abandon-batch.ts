import { type Hex, parseEventLogs, type TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { ContractsError } from "../../errors.ts";

/**
 * Spends one of the sending gateway's own batch ids without settling anything, so that the batch
 * provably never lands and validators may release its receipts. Reverts `BatchAlreadySettled` when
 * the id is already spent (settled or abandoned): then check {@link readBatchAbandoned}.
 *
 * @example
 * await abandonBatch(gatewayClient, contracts, { batchId: batchIdOf(7) });
 */
export async function abandonBatch(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { batchId: Hex },
): Promise<{ receipt: TransactionReceipt }> {
  const receipt = await writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "abandonBatch",
    args: [params.batchId],
  });
  const [log] = parseEventLogs({ abi: inferencePaymentAbi, eventName: "BatchAbandoned", logs: receipt.logs });
  if (!log)
    throw new ContractsError("EVENT_NOT_FOUND", "BatchAbandoned not emitted", {
      details: { hash: receipt.transactionHash },
    });
  return { receipt };
}

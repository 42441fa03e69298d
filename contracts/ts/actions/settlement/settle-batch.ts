import { type Hex, parseEventLogs, type TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { ContractsError } from "../../errors.ts";
import { settlementBatchArgs } from "./settlement-batch-args.ts";
import type { SettlementBatchInput } from "./types.ts";

/**
 * Settles a batch in one transaction. Anyone may send it; everything is bound by the client vouchers
 * and the validators' signatures over {@link settlementBatchMessage}.
 */
export async function settleBatch(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { batch: SettlementBatchInput; validatorSignatures: readonly Hex[] },
): Promise<{ total: bigint; receipt: TransactionReceipt }> {
  const receipt = await writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "settleBatch",
    args: [settlementBatchArgs(params.batch), params.validatorSignatures],
  });
  const [log] = parseEventLogs({ abi: inferencePaymentAbi, eventName: "BatchSettled", logs: receipt.logs });
  if (!log)
    throw new ContractsError("EVENT_NOT_FOUND", "BatchSettled not emitted", {
      details: { hash: receipt.transactionHash },
    });
  return { total: log.args.total, receipt };
}

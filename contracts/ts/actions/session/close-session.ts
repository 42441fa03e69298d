import { type Hex, parseEventLogs, type TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { ContractsError } from "../../errors.ts";

/** Closes an expired session (after the settlement grace) and returns the unspent deposit to its client. */
export async function closeSession(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  sessionId: Hex,
): Promise<{ refund: bigint; receipt: TransactionReceipt }> {
  const receipt = await writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "closeSession",
    args: [sessionId],
  });
  const [log] = parseEventLogs({ abi: inferencePaymentAbi, eventName: "SessionClosed", logs: receipt.logs });
  if (!log)
    throw new ContractsError("EVENT_NOT_FOUND", "SessionClosed not emitted", {
      details: { hash: receipt.transactionHash },
    });
  return { refund: log.args.refund, receipt };
}

import { type Address, parseEventLogs, type TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { ContractsError } from "../../errors.ts";

/**
 * Withdraws the client account's credit (to itself, or to `to`). 1 wei stays credited so the
 * account's next payout stays cheap.
 */
export async function withdrawCredits(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { to?: Address } = {},
): Promise<{ amount: bigint; receipt: TransactionReceipt }> {
  const receipt =
    params.to === undefined
      ? await writeAndConfirm(client, {
          address: contracts.payment,
          abi: inferencePaymentAbi,
          functionName: "withdraw",
        })
      : await writeAndConfirm(client, {
          address: contracts.payment,
          abi: inferencePaymentAbi,
          functionName: "withdrawTo",
          args: [params.to],
        });
  const [log] = parseEventLogs({ abi: inferencePaymentAbi, eventName: "Withdrawn", logs: receipt.logs });
  if (!log)
    throw new ContractsError("EVENT_NOT_FOUND", "Withdrawn not emitted", {
      details: { hash: receipt.transactionHash },
    });
  return { amount: log.args.amount, receipt };
}

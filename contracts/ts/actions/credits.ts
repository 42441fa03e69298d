import { type Address, parseEventLogs, type TransactionReceipt } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../abi/inference-payment.ts";
import { type ReadClient, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";
import { ContractsError } from "../errors.ts";

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

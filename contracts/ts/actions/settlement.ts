import { payoutsHash, type SettlementBatchMessage, vouchersHash } from "@ncn/protocol";
import { type Address, type Hex, parseEventLogs, type TransactionReceipt, toHex } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../abi/inference-payment.ts";
import { type ReadClient, type WriteClient, writeAndConfirm } from "../client.ts";
import type { NcnContracts } from "../deployment.ts";
import { ContractsError } from "../errors.ts";

/** The latest voucher of one session, as the gateway holds it. */
export interface VoucherClaim {
  sessionId: Hex;
  /** Salt the session was opened with (from SessionOpened or the client). */
  salt: Hex;
  cumulativeAmount: bigint;
  /** The client's EIP-712 Voucher signature. */
  signature: Hex;
}

/** Gross amount earned by one compute node in the batch (the node is credited its share after fees). */
export interface Payout {
  node: Address;
  amount: bigint;
}

export interface SettlementBatchInput {
  batchId: Hex;
  gateway: Address;
  /** Merkle root (OpenZeppelin sorted-pair) of the batch's receipt digests. */
  receiptsRoot: Hex;
  vouchers: readonly VoucherClaim[];
  payouts: readonly Payout[];
}

/**
 * bytes32 batch id from a counter. Ids are spent per gateway in a bitmap of 256 ids per storage
 * word, so consecutive counters make settlements cheapest.
 */
export function batchIdOf(counter: bigint | number): Hex {
  return toHex(BigInt(counter), { size: 32 });
}

/** The EIP-712 `SettlementBatch` validators sign for `batch` (total = sum of the payouts). */
export function settlementBatchMessage(batch: SettlementBatchInput): SettlementBatchMessage {
  return {
    batchId: batch.batchId,
    gateway: batch.gateway,
    receiptsRoot: batch.receiptsRoot,
    vouchersHash: vouchersHash(
      batch.vouchers.map((v) => v.sessionId),
      batch.vouchers.map((v) => v.cumulativeAmount),
    ),
    payoutsHash: payoutsHash(
      batch.payouts.map((p) => p.node),
      batch.payouts.map((p) => p.amount),
    ),
    total: batch.payouts.reduce((sum, p) => sum + p.amount, 0n),
  };
}

/** The `settleBatch` argument for `batch`. */
export function settlementBatchArgs(batch: SettlementBatchInput) {
  return {
    batchId: batch.batchId,
    gateway: batch.gateway,
    receiptsRoot: batch.receiptsRoot,
    sessionIds: batch.vouchers.map((v) => v.sessionId),
    salts: batch.vouchers.map((v) => v.salt),
    cumulativeAmounts: batch.vouchers.map((v) => v.cumulativeAmount),
    voucherSignatures: batch.vouchers.map((v) => v.signature),
    nodes: batch.payouts.map((p) => p.node),
    amounts: batch.payouts.map((p) => p.amount),
  };
}

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

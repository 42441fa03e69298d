import { payoutsHash, type SettlementBatchMessage, vouchersHash } from "@ncn/protocol";
import type { SettlementBatchInput } from "./types.ts";

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

import type { SettlementBatchInput } from "./types.ts";

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

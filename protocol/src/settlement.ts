import * as v from "valibot";
import { Address, Bytes32, Signature, UintString } from "./primitives.ts";

/**
 * What a gateway asks validators to sign before `settleBatch`: the receipts (by
 * EIP-712 digest) that validators attested, per session the client voucher whose
 * amount becomes the session's settled total, and the per-node payouts.
 */
export const SettlementRequest = v.object({
  batchId: Bytes32,
  gateway: Address,
  receiptsRoot: Bytes32,
  receiptDigests: v.pipe(v.array(Bytes32), v.minLength(1), v.maxLength(1000)),
  sessions: v.pipe(
    v.array(
      v.object({
        sessionId: Bytes32,
        voucherAmount: UintString,
        voucherSignature: Signature,
      }),
    ),
    v.minLength(1),
    v.maxLength(1000),
  ),
  payouts: v.pipe(
    v.array(v.object({ node: Address, amount: UintString })),
    v.minLength(1),
    v.maxLength(1000),
  ),
});
export type SettlementRequest = v.InferOutput<typeof SettlementRequest>;

/** One validator's EIP-712 signature over the `SettlementBatch`. */
export const SettlementSignature = v.object({
  batchId: Bytes32,
  validator: Address,
  total: UintString,
  signature: Signature,
});
export type SettlementSignature = v.InferOutput<typeof SettlementSignature>;

import * as v from "valibot";
import { Address, Bytes32, Signature, UintString } from "./primitives.ts";

/**
 * What a gateway asks validators to sign before `settleBatch`: the receipts (by
 * EIP-712 digest) that validators attested, and per session the client's newest
 * voucher and the total the session is settled to (never above the voucher).
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
        settleTo: UintString,
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

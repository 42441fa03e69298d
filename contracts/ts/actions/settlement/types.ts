import type { Address, Hex } from "viem";

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

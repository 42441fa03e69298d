import type { ReceiptJson } from "@ncn/protocol";
import type { OnChainSession } from "../logic/session-ledger.ts";

export interface EscrowInfo {
  client: string;
  subnetId: string;
  gateway: string;
  amount: bigint;
  /** Unix seconds. */
  expiry: number;
  /** True while the escrow holds the funds (not completed, not refunded). */
  open: boolean;
}

export interface BatchSettlement {
  batchId: `0x${string}`;
  receiptsRoot: `0x${string}`;
  sessionIds: `0x${string}`[];
  /** The voucher amounts the clients signed. */
  cumulativeAmounts: bigint[];
  /** New settled totals, each at most its voucher. */
  settledAmounts: bigint[];
  voucherSignatures: `0x${string}`[];
  nodes: `0x${string}`[];
  amounts: bigint[];
  validatorSignatures: `0x${string}`[];
}

/** What the gateway needs from the chain; implemented over viem in chain/viem-chain.ts. */
export interface ChainPort {
  readonly gateway: `0x${string}`;
  readSession(sessionId: `0x${string}`): Promise<OnChainSession | null>;
  readEscrow(requestKey: `0x${string}`): Promise<EscrowInfo | null>;
  completeEscrow(receipt: ReceiptJson, validatorSignatures: `0x${string}`[]): Promise<`0x${string}`>;
  settleBatch(batch: BatchSettlement): Promise<`0x${string}`>;
}

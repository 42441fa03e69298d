import type { BatchStatus } from "@ncn/contracts/actions";
import { BaseError, type ReceiptJson } from "@ncn/protocol";
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
  /** Per session: the client's voucher (amount = the session's new settled total). */
  vouchers: {
    sessionId: `0x${string}`;
    salt: `0x${string}`;
    cumulativeAmount: bigint;
    signature: `0x${string}`;
  }[];
  payouts: { node: `0x${string}`; amount: bigint }[];
  validatorSignatures: `0x${string}`[];
}

export type { BatchStatus } from "@ncn/contracts/actions";

/**
 * A transaction the contract refused (it will be refused again as it is), as opposed to a
 * node or network failure, after which sending the same again may work.
 */
export class ChainRevertedError extends BaseError<"CHAIN_ERROR"> {
  override name = "ChainRevertedError";
}

/**
 * The chain's node did not answer or answered with an error (not a contract refusal). Its text
 * is fixed: the node's own message can hold the RPC URL (with an API key) or a response body,
 * so it goes to the gateway's log only. Sending the same again later may work.
 */
export class ChainUnavailableError extends BaseError<"CHAIN_ERROR"> {
  override name = "ChainUnavailableError";
  constructor(options: { cause?: unknown } = {}) {
    super("CHAIN_ERROR", "the chain's RPC node did not answer", {
      details: { reason: "chain_unavailable" },
      ...options,
    });
  }
}

/**
 * What the gateway needs from the chain; implemented in chain/viem-chain.ts over the shared
 * `@ncn/contracts/actions`. Durable Objects and tests depend on this interface only.
 */
export interface ChainPort {
  readonly gateway: `0x${string}`;
  readSession(sessionId: `0x${string}`): Promise<(OnChainSession & { closed: boolean }) | null>;
  /**
   * The session's delegate voucher signer (an API key's address, lowercase), or null when it
   * names none: never set, revoked, or no such session.
   */
  readSessionSigner(sessionId: `0x${string}`): Promise<`0x${string}` | null>;
  /** The salt a session was opened with (from its SessionOpened event); needed to settle it. */
  sessionSalt(sessionId: `0x${string}`): Promise<`0x${string}` | null>;
  readEscrow(requestKey: `0x${string}`): Promise<EscrowInfo | null>;
  completeEscrow(receipt: ReceiptJson, validatorSignatures: `0x${string}`[]): Promise<`0x${string}`>;
  settleBatch(batch: BatchSettlement): Promise<`0x${string}`>;
  batchStatus(batchId: `0x${string}`): Promise<BatchStatus>;
  /** Spends this gateway's batch id without settling, so the batch provably never lands. */
  abandonBatch(batchId: `0x${string}`): Promise<`0x${string}`>;
}

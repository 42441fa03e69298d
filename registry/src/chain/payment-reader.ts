import type { NcnDomain } from "@ncn/protocol";

export type EscrowStatus = "none" | "pending" | "completed" | "refunded";

/** One escrowed request as `InferencePayment.getEscrow` returns it. */
export interface EscrowState {
  client: `0x${string}`;
  gateway: `0x${string}`;
  subnetId: `0x${string}`;
  amount: bigint;
  /** Unix seconds after which the client can be refunded. */
  expiry: bigint;
  status: EscrowStatus;
}

/** One prepaid session as `InferencePayment.getSession` returns it. */
export interface SessionState {
  client: `0x${string}`;
  gateway: `0x${string}`;
  deposit: bigint;
  settled: bigint;
  /** Unix seconds. */
  expiry: bigint;
  closed: boolean;
  /**
   * The session's delegate voucher signer (`sessionSignerOf`, an API key's address), lowercase;
   * absent when it names none. Vouchers it signs count as the client's while it is named.
   */
  signer?: `0x${string}`;
}

/** What validation needs to read about payments; the real one reads `InferencePayment`. */
export interface PaymentReader {
  /** EIP-712 domain of the payment contract (every signature of the protocol uses it). */
  readonly domain: NcnDomain;
  /** The escrow of `requestId` (bytes32), or null when none was opened. */
  escrow(requestId: `0x${string}`): Promise<EscrowState | null>;
  /** The session `sessionId`, or null when unknown. */
  session(sessionId: `0x${string}`): Promise<SessionState | null>;
  /** Whether a gateway already spent a settlement batch id: settled it, or abandoned it. */
  batchSettled(gateway: `0x${string}`, batchId: `0x${string}`): Promise<boolean>;
  /** Whether a gateway abandoned a settlement batch id on chain (it can never settle). */
  batchAbandoned(gateway: `0x${string}`, batchId: `0x${string}`): Promise<boolean>;
  /** Chain time in unix seconds (the contract compares expiries with block time). */
  now(): Promise<bigint>;
}

import { encodeAbiParameters, hashStruct, hashTypedData, keccak256 } from "viem";
import { keccakHex } from "./keccak.ts";
import type { Address, Bytes32 } from "./primitives.ts";

/**
 * EIP-712 domain shared by every signed object of the protocol. The verifying
 * contract is `InferencePayment`, which checks receipts, attestations, vouchers
 * and settlement batches.
 */
export interface NcnDomain {
  name: "NCN Network";
  version: "1";
  chainId: number;
  verifyingContract: `0x${string}`;
}

export const DOMAIN_NAME = "NCN Network" as const;
export const DOMAIN_VERSION = "1" as const;

/** @example ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3") */
export function ncnDomain(chainId: number, verifyingContract: `0x${string}`): NcnDomain {
  return { name: DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract };
}

export const eip712Types = {
  InferenceReceipt: [
    { name: "requestId", type: "bytes32" },
    { name: "subnetId", type: "bytes32" },
    { name: "modelId", type: "bytes32" },
    { name: "modelHash", type: "bytes32" },
    { name: "inputHash", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
    { name: "agent", type: "address" },
    { name: "price", type: "uint256" },
    { name: "startedAt", type: "uint64" },
    { name: "finishedAt", type: "uint64" },
  ],
  Attestation: [
    { name: "requestId", type: "bytes32" },
    { name: "phase", type: "uint8" },
    { name: "subject", type: "bytes32" },
    { name: "outputHash", type: "bytes32" },
  ],
  Voucher: [
    { name: "sessionId", type: "bytes32" },
    { name: "cumulativeAmount", type: "uint256" },
  ],
  SettlementBatch: [
    { name: "batchId", type: "bytes32" },
    { name: "gateway", type: "address" },
    { name: "receiptsRoot", type: "bytes32" },
    { name: "vouchersHash", type: "bytes32" },
    { name: "payoutsHash", type: "bytes32" },
    { name: "total", type: "uint256" },
  ],
  /**
   * A session's client answering a stream's challenge: binds the socket to the client, so a
   * voucher seen elsewhere (validators see them, settlements publish them) opens nothing.
   */
  StreamAuth: [
    { name: "sessionId", type: "bytes32" },
    { name: "nonce", type: "bytes32" },
  ],
  /**
   * The payer of a request claiming it: needed to submit against an escrow, to read a
   * request's result or events, to cancel it, or to submit its id again.
   */
  RequestAccess: [
    { name: "requestId", type: "bytes32" },
    { name: "gateway", type: "address" },
  ],
  /** An agent's one signature over the Merkle root of many receipts (stream mode). */
  ReceiptBatch: [
    { name: "agent", type: "address" },
    { name: "receiptsRoot", type: "bytes32" },
    { name: "count", type: "uint32" },
  ],
} as const;

export type Eip712PrimaryType = keyof typeof eip712Types;

/** Attestation phases, as the `phase` field of an `Attestation`. */
export const AttestationPhase = { Preprocess: 0, Completion: 1 } as const;
export type AttestationPhase = (typeof AttestationPhase)[keyof typeof AttestationPhase];

/** On-chain form of an `InferenceReceipt` (ids already hashed to bytes32). */
export interface ReceiptMessage {
  requestId: Bytes32 | `0x${string}`;
  subnetId: Bytes32 | `0x${string}`;
  modelId: Bytes32 | `0x${string}`;
  modelHash: Bytes32 | `0x${string}`;
  inputHash: Bytes32 | `0x${string}`;
  outputHash: Bytes32 | `0x${string}`;
  agent: Address | `0x${string}`;
  price: bigint;
  startedAt: bigint;
  finishedAt: bigint;
}

export interface AttestationMessage {
  requestId: `0x${string}`;
  phase: AttestationPhase;
  subject: `0x${string}`;
  outputHash: `0x${string}`;
}

export interface VoucherMessage {
  sessionId: `0x${string}`;
  cumulativeAmount: bigint;
}

export interface SettlementBatchMessage {
  batchId: `0x${string}`;
  gateway: `0x${string}`;
  receiptsRoot: `0x${string}`;
  vouchersHash: `0x${string}`;
  payoutsHash: `0x${string}`;
  total: bigint;
}

export interface ReceiptBatchMessage {
  agent: `0x${string}`;
  receiptsRoot: `0x${string}`;
  count: number;
}

export interface StreamAuthMessage {
  sessionId: `0x${string}`;
  nonce: `0x${string}`;
}

export interface RequestAccessMessage {
  /** `idToBytes32` of the request id. */
  requestId: `0x${string}`;
  gateway: `0x${string}`;
}

export interface MessageOf {
  InferenceReceipt: ReceiptMessage;
  Attestation: AttestationMessage;
  Voucher: VoucherMessage;
  SettlementBatch: SettlementBatchMessage;
  ReceiptBatch: ReceiptBatchMessage;
  StreamAuth: StreamAuthMessage;
  RequestAccess: RequestAccessMessage;
}

/** Typed-data payload ready for `signTypedData` / `recoverTypedDataAddress`. */
export function typedData<T extends Eip712PrimaryType>(
  domain: NcnDomain,
  primaryType: T,
  message: MessageOf[T],
) {
  return { domain, types: eip712Types, primaryType, message } as const;
}

/** EIP-712 digest (what gets signed) of a protocol message. */
export function digestOf<T extends Eip712PrimaryType>(
  domain: NcnDomain,
  primaryType: T,
  message: MessageOf[T],
): `0x${string}` {
  const def = { domain, types: eip712Types, primaryType, message };
  return hashTypedData(def as unknown as Parameters<typeof hashTypedData>[0]);
}

/** EIP-712 struct hash (without the domain) of a protocol message. */
export function structHashOf<T extends Eip712PrimaryType>(
  primaryType: T,
  message: MessageOf[T],
): `0x${string}` {
  const def = { types: eip712Types, primaryType, data: message };
  return hashStruct(def as unknown as Parameters<typeof hashStruct>[0]);
}

/** bytes32 form of a human id (request, subnet, model): keccak256 of its UTF-8 bytes. */
export function idToBytes32(id: string): `0x${string}` {
  return keccakHex(new TextEncoder().encode(id));
}

/** Binds a settlement batch to its per-node payouts: keccak256(abi.encode(address[], uint256[])). */
export function payoutsHash(nodes: readonly `0x${string}`[], amounts: readonly bigint[]): `0x${string}` {
  return keccak256(encodeAbiParameters([{ type: "address[]" }, { type: "uint256[]" }], [nodes, amounts]));
}

/** Binds a settlement batch to its vouchers: keccak256(abi.encode(bytes32[], uint256[])). */
export function vouchersHash(
  sessionIds: readonly `0x${string}`[],
  amounts: readonly bigint[],
): `0x${string}` {
  return keccak256(
    encodeAbiParameters([{ type: "bytes32[]" }, { type: "uint256[]" }], [sessionIds, amounts]),
  );
}

import * as v from "valibot";
import { encodeAbiParameters, keccak256 } from "viem";
import { idToBytes32 } from "./eip712.ts";
import { Payment, TaskInput, TaskResult } from "./inference.ts";
import {
  Address,
  Bytes32,
  ModelId,
  RequestId,
  Signature,
  SubnetId,
  TimestampMs,
  UintString,
} from "./primitives.ts";
import { AttestationSig, ReceiptJson, SignedReceipt } from "./receipt.ts";

/** What a gateway asks a validator to attest before dispatch (phase 0). */
export const PreprocessRequest = v.object({
  requestId: RequestId,
  subnet: SubnetId,
  model: ModelId,
  agent: Address,
  /** Price the request is charged, in NCN base units. */
  price: UintString,
  /** Escrow opened on chain under the request id, or a session voucher. */
  payment: Payment,
  /** Unix ms by which the result must be back. */
  deadline: TimestampMs,
});
export type PreprocessRequest = v.InferOutput<typeof PreprocessRequest>;

/**
 * Subject of a preprocess attestation: keccak256 of the ABI encoding of the attested terms
 * (request, subnet and model ids as bytes32, agent, price, payment mode 0 escrow / 1 session,
 * session id or zero, voucher amount or zero, deadline in ms).
 *
 * @example preprocessSubject(parseOrThrow(PreprocessRequest, body))
 */
export function preprocessSubject(p: PreprocessRequest): `0x${string}` {
  const session = p.payment.mode === "session" ? p.payment : undefined;
  return keccak256(
    encodeAbiParameters(
      [
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "bytes32" },
        { type: "address" },
        { type: "uint256" },
        { type: "uint8" },
        { type: "bytes32" },
        { type: "uint256" },
        { type: "uint64" },
      ],
      [
        idToBytes32(p.requestId),
        idToBytes32(p.subnet),
        idToBytes32(p.model),
        p.agent,
        BigInt(p.price),
        session ? 1 : 0,
        session?.sessionId ?? `0x${"0".repeat(64)}`,
        BigInt(session?.cumulativeAmount ?? "0"),
        BigInt(p.deadline),
      ],
    ),
  );
}

/** What a gateway asks a validator to attest once an agent returned a result (phase 1). */
export const CompletionRequest = v.object({
  requestId: RequestId,
  subnet: SubnetId,
  agent: Address,
  price: UintString,
  deadline: TimestampMs,
  /** The task as dispatched (its inputs hash to receipt.inputHash). */
  input: TaskInput,
  /** The agent's result (hashes to receipt.outputHash). */
  result: TaskResult,
  receipt: SignedReceipt,
});
export type CompletionRequest = v.InferOutput<typeof CompletionRequest>;

/** A validator's answer to a preprocess or completion request. */
export const AttestationResponse = v.object({
  requestId: Bytes32,
  attestation: AttestationSig,
  /** True when this validator re-executed the model and the outputs matched. */
  spotChecked: v.optional(v.boolean()),
});
export type AttestationResponse = v.InferOutput<typeof AttestationResponse>;

/** Many completions checked at once; the validator signs the Merkle root of their receipt digests. */
export const BatchCompletionRequest = v.object({
  items: v.pipe(v.array(CompletionRequest), v.minLength(1), v.maxLength(1024)),
});
export type BatchCompletionRequest = v.InferOutput<typeof BatchCompletionRequest>;

export const BatchCompletionResponse = v.object({
  /** Merkle root (OpenZeppelin sorted pairs) over the EIP-712 digests of the accepted receipts. */
  receiptsRoot: Bytes32,
  leaves: v.array(Bytes32),
  accepted: v.array(v.pipe(v.number(), v.integer())),
  rejected: v.array(
    v.object({ index: v.number(), code: v.string(), message: v.string(), details: v.optional(v.unknown()) }),
  ),
  /** Completion attestation over the root: {requestId: root, phase 1, subject: root, outputHash: 0}. */
  attestation: AttestationSig,
});
export type BatchCompletionResponse = v.InferOutput<typeof BatchCompletionResponse>;

/** One agent's signed batch of receipts, as a stream validation request carries it. */
export const AgentReceiptBatch = v.object({
  agent: Address,
  /** Root over the digests of all the receipts the agent signed together. */
  receiptsRoot: Bytes32,
  /** How many receipts the agent's root covers. */
  count: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(1024)),
  /** EIP-712 `ReceiptBatch {agent, receiptsRoot, count}` by the agent. */
  signature: Signature,
});
export type AgentReceiptBatch = v.InferOutput<typeof AgentReceiptBatch>;

/** One request of a stream validation batch. */
export const StreamBatchItem = v.object({
  requestId: RequestId,
  /** Index into `agentBatches` of the batch that covers this receipt. */
  agentBatch: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Proof of the receipt's digest under that agent batch's root. */
  proof: v.pipe(v.array(Bytes32), v.maxLength(32)),
  price: UintString,
  deadline: TimestampMs,
  input: TaskInput,
  result: TaskResult,
  receipt: ReceiptJson,
});
export type StreamBatchItem = v.InferOutput<typeof StreamBatchItem>;

/**
 * Stream mode's single validation step: many requests of one session at once. The
 * validator checks the session's voucher covers the batch (what preprocess checks per
 * request), each agent's batch signature once, every receipt against its request, and
 * re-executes a sampled share; then it signs one completion attestation over the Merkle
 * root of the accepted receipts' digests (the same answer as `/v1/validate/completion/batch`).
 */
export const StreamBatchRequest = v.object({
  subnet: SubnetId,
  /** The voucher that authorises this batch: the highest the client has signed. */
  session: v.object({ sessionId: Bytes32, cumulativeAmount: UintString, signature: Signature }),
  /** What the session had been charged before this batch (validated, not yet necessarily settled). */
  chargedBefore: UintString,
  agentBatches: v.pipe(v.array(AgentReceiptBatch), v.minLength(1), v.maxLength(256)),
  items: v.pipe(v.array(StreamBatchItem), v.minLength(1), v.maxLength(1024)),
});
export type StreamBatchRequest = v.InferOutput<typeof StreamBatchRequest>;

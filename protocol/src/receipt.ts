import * as v from "valibot";
import type { NcnDomain, ReceiptMessage } from "./eip712.ts";
import { digestOf, structHashOf } from "./eip712.ts";
import { Address, Bytes32, Signature, UintString } from "./primitives.ts";

/** JSON form of an `InferenceReceipt` (ids as bytes32, amounts as decimal strings, times in ms). */
export const ReceiptJson = v.object({
  requestId: Bytes32,
  subnetId: Bytes32,
  modelId: Bytes32,
  modelHash: Bytes32,
  inputHash: Bytes32,
  outputHash: Bytes32,
  agent: Address,
  price: UintString,
  startedAt: v.pipe(v.number(), v.integer(), v.minValue(0)),
  finishedAt: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
export type ReceiptJson = v.InferOutput<typeof ReceiptJson>;

/** A receipt with the agent's EIP-712 signature over it. */
export const SignedReceipt = v.object({
  receipt: ReceiptJson,
  signature: Signature,
});
export type SignedReceipt = v.InferOutput<typeof SignedReceipt>;

/** One validator's EIP-712 signature over an `Attestation`. */
export const AttestationSig = v.object({
  validator: Address,
  phase: v.picklist([0, 1]),
  subject: Bytes32,
  outputHash: Bytes32,
  signature: Signature,
});
export type AttestationSig = v.InferOutput<typeof AttestationSig>;

export function receiptMessage(r: ReceiptJson): ReceiptMessage {
  return {
    requestId: r.requestId,
    subnetId: r.subnetId,
    modelId: r.modelId,
    modelHash: r.modelHash,
    inputHash: r.inputHash,
    outputHash: r.outputHash,
    agent: r.agent,
    price: BigInt(r.price),
    startedAt: BigInt(r.startedAt),
    finishedAt: BigInt(r.finishedAt),
  };
}

export function receiptDigest(domain: NcnDomain, r: ReceiptJson): `0x${string}` {
  return digestOf(domain, "InferenceReceipt", receiptMessage(r));
}

export function receiptStructHash(r: ReceiptJson): `0x${string}` {
  return structHashOf("InferenceReceipt", receiptMessage(r));
}

import * as v from "valibot";
import { bytesToHex, domainSeparator, hexToBytes, keccak256, stringToBytes } from "viem";
import type { NcnDomain, ReceiptMessage } from "./eip712.ts";
import {
  type AttestationMessage,
  digestOf,
  eip712Types,
  type ReceiptBatchMessage,
  structHashOf,
} from "./eip712.ts";
import { ProtocolError } from "./errors.ts";
import { hexOfBytes, keccakBytes } from "./keccak.ts";
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

/**
 * EIP-712 digest of a receipt. Equal to `digestOf(domain, "InferenceReceipt", ...)`, but
 * encoded directly (ten static words, cached domain separator): receipts are hashed on
 * every hot path (agent, gateway, validators, client), and the generic encoder costs
 * about ten times more.
 */
export function receiptDigest(domain: NcnDomain, r: ReceiptJson): `0x${string}` {
  return typedDigest(domain, receiptStructHashBytes(r));
}

/** keccak256(0x1901 || domain separator || struct hash): the EIP-712 digest. */
function typedDigest(domain: NcnDomain, structHash: Uint8Array): `0x${string}` {
  const buf = new Uint8Array(66);
  buf[0] = 0x19;
  buf[1] = 0x01;
  buf.set(domainSeparatorBytes(domain), 2);
  buf.set(structHash, 34);
  return hexOfBytes(keccakBytes(buf));
}

export function receiptStructHash(r: ReceiptJson): `0x${string}` {
  return bytesToHex(receiptStructHashBytes(r));
}

/** The generic (slow) encoding, kept as the reference the fast one is tested against. */
export function receiptDigestReference(domain: NcnDomain, r: ReceiptJson): `0x${string}` {
  return digestOf(domain, "InferenceReceipt", receiptMessage(r));
}

export function receiptStructHashReference(r: ReceiptJson): `0x${string}` {
  return structHashOf("InferenceReceipt", receiptMessage(r));
}

/** keccak256 of a type's EIP-712 encoding (these types reference no other struct). */
function typeHash(name: "InferenceReceipt" | "ReceiptBatch" | "Attestation"): Uint8Array {
  const fields = eip712Types[name].map((f) => `${f.type} ${f.name}`).join(",");
  return keccak256(stringToBytes(`${name}(${fields})`), "bytes");
}

const RECEIPT_TYPEHASH = typeHash("InferenceReceipt");

function receiptStructHashBytes(r: ReceiptJson): Uint8Array {
  const buf = new Uint8Array(32 * 11);
  buf.set(RECEIPT_TYPEHASH, 0);
  putHex(buf, 32, r.requestId, 32);
  putHex(buf, 64, r.subnetId, 32);
  putHex(buf, 96, r.modelId, 32);
  putHex(buf, 128, r.modelHash, 32);
  putHex(buf, 160, r.inputHash, 32);
  putHex(buf, 192, r.outputHash, 32);
  putHex(buf, 224, r.agent, 20);
  putUint(buf, 256, BigInt(r.price));
  putUint(buf, 288, BigInt(r.startedAt));
  putUint(buf, 320, BigInt(r.finishedAt));
  return keccakBytes(buf);
}

const separators = new Map<string, Uint8Array>();

function domainSeparatorBytes(domain: NcnDomain): Uint8Array {
  const key = `${domain.chainId}:${domain.verifyingContract.toLowerCase()}`;
  let sep = separators.get(key);
  if (!sep) {
    sep = hexToBytes(domainSeparator({ domain }));
    separators.set(key, sep);
  }
  return sep;
}

/** Writes a hex value right-aligned into the 32-byte word at `offset`. */
function putHex(buf: Uint8Array, offset: number, hex: string, size: number): void {
  const bytes = hexToBytes(hex as `0x${string}`);
  if (bytes.length !== size) throw new ProtocolError("INVALID_INPUT", `expected ${size} bytes, got ${hex}`);
  buf.set(bytes, offset + 32 - size);
}

function putUint(buf: Uint8Array, offset: number, value: bigint): void {
  if (value < 0n || value >= 1n << 256n) throw new ProtocolError("INVALID_INPUT", "uint256 out of range");
  let x = value;
  for (let i = 31; i >= 0 && x > 0n; i--) {
    buf[offset + i] = Number(x & 0xffn);
    x >>= 8n;
  }
}

const RECEIPT_BATCH_TYPEHASH = typeHash("ReceiptBatch");

/**
 * EIP-712 digest of a `ReceiptBatch` (equal to `digestOf(domain, "ReceiptBatch", m)`),
 * encoded directly: the agent signs one per batch and every validator checks it.
 */
export function receiptBatchDigest(domain: NcnDomain, m: ReceiptBatchMessage): `0x${string}` {
  if (!Number.isInteger(m.count) || m.count < 0 || m.count > 0xffffffff)
    throw new ProtocolError("INVALID_INPUT", `receipt count out of range: ${m.count}`);
  const struct = new Uint8Array(32 * 4);
  struct.set(RECEIPT_BATCH_TYPEHASH, 0);
  putHex(struct, 32, m.agent, 20);
  putHex(struct, 64, m.receiptsRoot, 32);
  putUint(struct, 96, BigInt(m.count));
  return typedDigest(domain, keccakBytes(struct));
}

const ATTESTATION_TYPEHASH = typeHash("Attestation");

/**
 * EIP-712 digest of an `Attestation` (equal to `digestOf(domain, "Attestation", m)`),
 * encoded directly: validators sign one per validated batch or request.
 */
export function attestationDigest(domain: NcnDomain, m: AttestationMessage): `0x${string}` {
  const struct = new Uint8Array(32 * 5);
  struct.set(ATTESTATION_TYPEHASH, 0);
  putHex(struct, 32, m.requestId, 32);
  putUint(struct, 64, BigInt(m.phase));
  putHex(struct, 96, m.subject, 32);
  putHex(struct, 128, m.outputHash, 32);
  return typedDigest(domain, keccakBytes(struct));
}

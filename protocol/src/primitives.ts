import * as v from "valibot";

/** 0x-prefixed hex string of any even length. */
export const Hex = v.pipe(
  v.string(),
  v.regex(/^0x(?:[0-9a-fA-F]{2})*$/, "expected 0x-prefixed hex with an even number of digits"),
  v.transform((s) => s as `0x${string}`),
);
export type Hex = v.InferOutput<typeof Hex>;

/** 32-byte value as 0x + 64 lowercase-insensitive hex digits. */
export const Bytes32 = v.pipe(
  v.string(),
  v.regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x + 64 hex digits"),
  v.transform((s) => s.toLowerCase() as `0x${string}`),
  v.brand("Bytes32"),
);
export type Bytes32 = v.InferOutput<typeof Bytes32>;

const LOWER_BYTES32 = /^0x[0-9a-f]{64}$/;

/**
 * Whether `s` is a `Bytes32` as its schema outputs it (lowercase): for 32-byte values the
 * code computes (hashes, Merkle nodes), which need no schema parse to carry the brand.
 */
export function isBytes32(s: string): s is Bytes32 {
  return LOWER_BYTES32.test(s);
}

/** 20-byte EVM address, normalised to lowercase. */
export const Address = v.pipe(
  v.string(),
  v.regex(/^0x[0-9a-fA-F]{40}$/, "expected an EVM address as 0x + 40 hex digits"),
  v.transform((s) => s.toLowerCase() as `0x${string}`),
  v.brand("Address"),
);
export type Address = v.InferOutput<typeof Address>;

/** 65-byte secp256k1 signature (r, s, v). */
export const Signature = v.pipe(
  v.string(),
  v.regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature as 0x + 130 hex digits"),
  v.transform((s) => s.toLowerCase() as `0x${string}`),
  v.brand("Signature"),
);
export type Signature = v.InferOutput<typeof Signature>;

const MAX_UINT256 = 2n ** 256n - 1n;

/**
 * Non-negative integer carried as a decimal string (token amounts exceed 2^53), at most
 * 2^256 - 1: every amount is signed or paid as a uint256, and one past it cannot be encoded.
 */
export const UintString = v.pipe(
  v.string(),
  v.regex(/^(?:0|[1-9][0-9]{0,77})$/, "expected a non-negative integer as a decimal string"),
  // Runs even when the regex failed: only a 78-digit string needs (and can take) BigInt.
  v.check(
    (s) => !/^[0-9]{78}$/.test(s) || BigInt(s) <= MAX_UINT256,
    "expected at most 2^256 - 1 (a uint256)",
  ),
);
export type UintString = v.InferOutput<typeof UintString>;

/** Unix time in milliseconds. */
export const TimestampMs = v.pipe(v.number(), v.integer(), v.minValue(0));

/** Human-chosen identifier: lowercase letters, digits, `-`, `_`, `.`, `/`, 1-64 chars. */
export const Slug = v.pipe(
  v.string(),
  v.regex(/^[a-z0-9][a-z0-9._/-]{0,63}$/, "expected 1-64 chars of a-z, 0-9, '.', '_', '-', '/'"),
);

/** Client-chosen request id: 1-64 chars of [A-Za-z0-9_-]; hashed to bytes32 on chain. */
export const RequestId = v.pipe(
  v.string(),
  v.regex(/^[A-Za-z0-9_-]{1,64}$/, "expected 1-64 chars of A-Z, a-z, 0-9, '_', '-'"),
  v.brand("RequestId"),
);
export type RequestId = v.InferOutput<typeof RequestId>;

export const SubnetId = v.pipe(Slug, v.brand("SubnetId"));
export type SubnetId = v.InferOutput<typeof SubnetId>;

export const ModelId = v.pipe(Slug, v.brand("ModelId"));
export type ModelId = v.InferOutput<typeof ModelId>;

/** An agent is identified by the EVM address of its signing key. */
export const AgentAddress = Address;
export type AgentAddress = Address;

/** sha256 content hash as 0x + 64 hex digits. */
export const Sha256 = v.pipe(Bytes32, v.brand("Sha256"));
export type Sha256 = v.InferOutput<typeof Sha256>;

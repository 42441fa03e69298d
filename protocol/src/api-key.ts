import * as v from "valibot";
import { bytesToHex, hexToBytes } from "viem";
import { BaseError } from "./errors.ts";
import { Bytes32 } from "./primitives.ts";

/**
 * An API key: `ncn-` + base64url(version 1 | session id (32 bytes) | delegate private key (32 bytes)).
 * The key is the whole credential: the gateway derives the delegate's address from it, checks on
 * chain that the session names that address as its signer, and signs the session's vouchers with
 * it for the length of one call. Nothing about keys is stored anywhere but on chain.
 */
export const API_KEY_PREFIX = "ncn-";
const API_KEY_VERSION = 1;
const API_KEY_BYTES = 1 + 32 + 32;
/** base64url of 65 bytes, unpadded. */
const API_KEY_CHARS = 87;
/** Order of secp256k1: a private key is in [1, n - 1]. */
const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** What an API key holds. */
export interface ApiKey {
  sessionId: Bytes32;
  /** The session's delegate voucher signer's private key (0x + 64 hex digits). */
  privateKey: `0x${string}`;
}

/**
 * The key string of a session and its delegate's private key.
 *
 * @example
 * const key = encodeApiKey({ sessionId, privateKey: generatePrivateKey() }); // "ncn-AS3f…"
 */
export function encodeApiKey(key: ApiKey): string {
  const bytes = new Uint8Array(API_KEY_BYTES);
  bytes[0] = API_KEY_VERSION;
  bytes.set(hexToBytes(key.sessionId), 1);
  bytes.set(hexToBytes(key.privateKey), 33);
  return API_KEY_PREFIX + toBase64Url(bytes);
}

/** An API key string, parsed to what it holds. */
export const ApiKeyString = v.pipe(
  v.string(),
  v.regex(
    new RegExp(`^${API_KEY_PREFIX}[A-Za-z0-9_-]{${API_KEY_CHARS}}$`),
    `expected ${API_KEY_PREFIX} followed by ${API_KEY_CHARS} base64url characters`,
  ),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    const bytes = fromBase64Url(dataset.value.slice(API_KEY_PREFIX.length));
    if (bytes?.length !== API_KEY_BYTES || bytes[0] !== API_KEY_VERSION) {
      addIssue({ message: "unknown API key version" });
      return NEVER;
    }
    const privateKey = bytesToHex(bytes.subarray(33));
    const scalar = BigInt(privateKey);
    if (scalar === 0n || scalar >= SECP256K1_N) {
      addIssue({ message: "the key's signer is not a valid secp256k1 private key" });
      return NEVER;
    }
    return { sessionId: v.parse(Bytes32, bytesToHex(bytes.subarray(1, 33))), privateKey } satisfies ApiKey;
  }),
);

/** `Authorization: Bearer ncn-…` as a client sends it (the scheme is case-insensitive). */
export const BearerApiKey = v.pipe(
  v.string(),
  v.regex(/^bearer\s+\S+$/i, "expected the Bearer scheme"),
  v.transform((s) => s.replace(/^bearer\s+/i, "")),
  ApiKeyString,
);

/**
 * The API key in an `Authorization` header; a typed 401 (`INVALID_API_KEY`) when it is missing or
 * malformed. The message never repeats the header: it holds a secret.
 *
 * @example
 * const { sessionId, privateKey } = parseBearerApiKey(request.headers.get("authorization") ?? undefined);
 */
export function parseBearerApiKey(authorization: string | undefined): ApiKey {
  if (authorization === undefined || authorization === "") {
    throw new BaseError("INVALID_API_KEY", `no API key: send Authorization: Bearer ${API_KEY_PREFIX}…`);
  }
  const parsed = v.safeParse(BearerApiKey, authorization);
  if (!parsed.success) {
    throw new BaseError("INVALID_API_KEY", `malformed API key: ${parsed.issues[0]?.message ?? "unreadable"}`);
  }
  return parsed.output;
}

/** Whether an `Authorization` header carries an API key (as opposed to none, or another scheme). */
export function hasBearerApiKey(authorization: string | undefined): boolean {
  return authorization !== undefined && /^bearer\s+ncn-/i.test(authorization);
}

/**
 * Whether a request sent an `Authorization` header at all: a route that takes API keys answers
 * such a request with the key's verdict (401 when it is not a valid key), not with how to pay.
 */
export function hasAuthorization(authorization: string | undefined): authorization is string {
  return authorization !== undefined && authorization.trim() !== "";
}

function toBase64Url(bytes: Uint8Array): string {
  let binary = "";
  for (const b of bytes) binary += String.fromCharCode(b);
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function fromBase64Url(text: string): Uint8Array | undefined {
  try {
    const binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    return Uint8Array.from(binary, (c) => c.charCodeAt(0));
  } catch {
    return undefined;
  }
}

import * as v from "valibot";
import { recoverMessageAddress } from "viem";
import { ProtocolError } from "./errors.ts";
import { Address, Signature } from "./primitives.ts";

/** The `Authorization` scheme a gateway uses on the validation API. */
export const GATEWAY_AUTH_SCHEME = "NCN-Gateway";
/** How long a gateway token is valid; the gateway renews it before then. */
export const GATEWAY_TOKEN_LIFETIME_MS = 5 * 60_000;
/** Clock difference tolerated between a gateway and a validator. */
export const GATEWAY_TOKEN_SKEW_MS = 60_000;

/** The parts of a gateway token: `<gateway address>.<expiry, unix ms>.<EIP-191 signature>`. */
export const GatewayToken = v.object({
  gateway: Address,
  expiresAt: v.pipe(v.number(), v.integer(), v.minValue(0)),
  signature: Signature,
});
export type GatewayToken = v.InferOutput<typeof GatewayToken>;

/** The text a gateway signs (EIP-191) to prove its key until `expiresAt`. */
export function gatewayTokenText(gateway: string, expiresAt: number): string {
  return `NCN gateway token\ngateway: ${gateway.toLowerCase()}\nexpires: ${expiresAt}`;
}

/** A key that signs EIP-191 messages (a viem local account is one). */
export interface MessageSigner {
  readonly address: string;
  signMessage(args: { message: string }): Promise<`0x${string}`>;
}

/**
 * Signs a token that authenticates `signer` as a gateway until `now + lifetimeMs`. One
 * signature per lifetime: the gateway keeps the token and sends it on every call.
 *
 * @example
 * const { token } = await makeGatewayToken(privateKeyToAccount(key));
 * fetch(url, { headers: { authorization: gatewayAuthorization(token) } });
 */
export async function makeGatewayToken(
  signer: MessageSigner,
  now = Date.now(),
  lifetimeMs = GATEWAY_TOKEN_LIFETIME_MS,
): Promise<{ token: string; expiresAt: number }> {
  const gateway = signer.address.toLowerCase();
  const expiresAt = now + lifetimeMs;
  const signature = await signer.signMessage({ message: gatewayTokenText(gateway, expiresAt) });
  return { token: `${gateway}.${expiresAt}.${signature.toLowerCase()}`, expiresAt };
}

/** The `Authorization` header value carrying a token. */
export function gatewayAuthorization(token: string): string {
  return `${GATEWAY_AUTH_SCHEME} ${token}`;
}

function unauthorized(message: string, reason: string): ProtocolError<"UNAUTHORIZED"> {
  return new ProtocolError("UNAUTHORIZED", message, { details: { reason } });
}

/** The token of an `Authorization: NCN-Gateway <token>` header; UNAUTHORIZED when absent or of another scheme. */
export function tokenOfAuthorization(header: string | null | undefined): string {
  if (!header)
    throw unauthorized(`the validation API needs an ${GATEWAY_AUTH_SCHEME} token`, "token_missing");
  const [scheme, token, ...rest] = header.trim().split(/\s+/);
  if (scheme !== GATEWAY_AUTH_SCHEME || !token || rest.length > 0) {
    throw unauthorized(`expected "Authorization: ${GATEWAY_AUTH_SCHEME} <token>"`, "token_scheme");
  }
  return token;
}

/** Splits a token into its parts; UNAUTHORIZED when malformed. */
export function parseGatewayToken(token: string): GatewayToken {
  const [gateway, expiresAt, signature, ...rest] = token.split(".");
  const parsed = v.safeParse(GatewayToken, {
    gateway,
    expiresAt: expiresAt !== undefined && /^\d{1,16}$/.test(expiresAt) ? Number(expiresAt) : expiresAt,
    signature,
  });
  if (!parsed.success || rest.length > 0) throw unauthorized("malformed gateway token", "token_malformed");
  return parsed.output;
}

/**
 * Checks a gateway token: well formed, not expired, not valid for longer than a token may
 * be (so a leaked one dies soon), and signed by the gateway it names. Returns the parts;
 * whether that gateway is welcome is the caller's decision.
 */
export async function verifyGatewayToken(token: string, now = Date.now()): Promise<GatewayToken> {
  const parsed = parseGatewayToken(token);
  if (parsed.expiresAt <= now) throw unauthorized("the gateway token has expired", "token_expired");
  if (parsed.expiresAt > now + GATEWAY_TOKEN_LIFETIME_MS + GATEWAY_TOKEN_SKEW_MS) {
    throw unauthorized("the gateway token is valid for longer than a token may be", "token_too_long");
  }
  let signer: string;
  try {
    signer = await recoverMessageAddress({
      message: gatewayTokenText(parsed.gateway, parsed.expiresAt),
      signature: parsed.signature,
    });
  } catch {
    throw unauthorized("the gateway token's signature cannot be recovered", "token_signature");
  }
  if (signer.toLowerCase() !== parsed.gateway) {
    throw unauthorized("the gateway token is not signed by its gateway", "token_signer");
  }
  return parsed;
}

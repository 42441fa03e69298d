import { env } from "cloudflare:workers";
import { GATEWAY_TOKEN_LIFETIME_MS, gatewayAuthorization, makeGatewayToken } from "@ncn/protocol";
import { privateKeyToAccount } from "viem/accounts";
import { configOf } from "../env.ts";

/** A token is renewed this long before it expires, so none in flight arrives expired. */
const RENEW_BEFORE_MS = 60_000;

let current: { key: string; header: Promise<string>; expiresAt: number } | undefined;

/**
 * The `Authorization` header every call to a validator carries: a token signed with the
 * gateway's key (GATEWAY_PRIVATE_KEY), made once per isolate and renewed a minute before
 * it expires, so requests cost no signature.
 */
export function validatorAuthorization(now = Date.now()): Promise<string> {
  const key = configOf(env).GATEWAY_PRIVATE_KEY;
  if (!current || current.key !== key || current.expiresAt - RENEW_BEFORE_MS <= now) {
    const header = makeGatewayToken(privateKeyToAccount(key as `0x${string}`), now).then(({ token }) =>
      gatewayAuthorization(token),
    );
    const made = { key, header, expiresAt: now + GATEWAY_TOKEN_LIFETIME_MS };
    // A failed signing is not kept: the next call signs again.
    header.catch(() => {
      if (current === made) current = undefined;
    });
    current = made;
  }
  return current.header;
}

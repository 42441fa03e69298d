import { BaseError, parseBearerApiKey, SessionPayment } from "@ncn/protocol";
import * as v from "valibot";
import type { AppContext } from "../http.ts";
import { unwrap } from "../rpc.ts";

/** What a request costs, as the route that takes it priced it. */
export interface ApiKeyQuote {
  subnet: string;
  model: string;
  /** What the request may cost in base units: its price, or for a model priced per token its maximum. */
  price: bigint;
  /** The request's id: the reservation the voucher pays for is held under it. */
  requestId: string;
}

/**
 * Pays a request with the API key in `authorization` (`Bearer ncn-…`): checks that the key's
 * session names the key's signer on chain and has the deposit for `quote.price`, then returns
 * the session voucher the gateway signed with the key for the session's next cumulative amount,
 * with `quote.price` reserved under `quote.requestId`. Submit it as the request's `payment`
 * (the Request object's payment check claims the reservation); a reservation no request claims
 * is given back after a minute. Nothing about the key is stored.
 *
 * Typed errors: 401 `INVALID_API_KEY` (missing, malformed, or a session this gateway does not
 * serve), 401 `API_KEY_REVOKED` (the session no longer names the key's signer; a revocation is
 * seen within `DELEGATE_CACHE_MS`), 402 `INSUFFICIENT_FUNDS` (deposit spent) or `PAYMENT_EXPIRED`,
 * 409 `CONFLICT` (the request id is already in flight on the session).
 *
 * @example
 * const payment = await apiKeyPayment(c, c.req.header("authorization"), { subnet, model, price, requestId });
 * await stub.submit({ requestId, subnet, input, payment, price: price.toString(), ... }, undefined);
 */
export async function apiKeyPayment(
  c: AppContext,
  authorization: string | undefined,
  quote: ApiKeyQuote,
): Promise<SessionPayment> {
  const key = parseBearerApiKey(authorization);
  const session = c.env.SESSION.get(c.env.SESSION.idFromName(key.sessionId));
  const voucher = unwrap(
    await session.keyVoucher(key.sessionId, quote.requestId, quote.price.toString(), key.privateKey),
  );
  const parsed = v.safeParse(SessionPayment, { mode: "session", sessionId: key.sessionId, ...voucher });
  if (!parsed.success) {
    throw new BaseError("INTERNAL", "the session object answered a malformed voucher", {
      details: { subnet: quote.subnet, model: quote.model },
    });
  }
  return parsed.output;
}

/**
 * Gives back the reservation `apiKeyPayment` made for a request that was then not submitted
 * (its id taken, say), so the key's deposit does not wait a minute for it.
 */
export async function releaseApiKeyPayment(
  c: AppContext,
  payment: SessionPayment,
  requestId: string,
): Promise<void> {
  const session = c.env.SESSION.get(c.env.SESSION.idFromName(payment.sessionId));
  await session.release(requestId);
}

/**
 * Signs, with the API key in `authorization`, a voucher for exactly what its session is
 * charged, when no voucher equals that total (a request priced per token was charged less
 * than its voucher authorised): settlement needs one, and the key is not kept for later.
 * Nothing happens while the session does not name the key or needs no acknowledgement.
 */
export async function acknowledgeApiKey(c: AppContext, authorization: string | undefined): Promise<void> {
  const key = parseBearerApiKey(authorization);
  const session = c.env.SESSION.get(c.env.SESSION.idFromName(key.sessionId));
  unwrap(await session.keyAcknowledge(key.sessionId, key.privateKey));
}

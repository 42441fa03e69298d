import { idToBytes32, PROMPT_TOKEN_ALLOWANCE, readQuery, type TokenPrices } from "@ncn/protocol";
import { Hono } from "hono";
import { loadCatalog, priceOf } from "../catalog.ts";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf } from "../env.ts";
import type { AppContext, AppEnv } from "../http.ts";
import { QuoteQuery } from "./bodies.ts";

export const quoteRoutes = new Hono<AppEnv>();

quoteRoutes.get("/v1/quote", async (c) => {
  const q = readQuery(c.req.url, QuoteQuery);
  const catalog = await loadCatalog(configOf(c.env).REGISTRY_URLS);
  const { price, pricing } = priceOf(catalog, q.subnet, q.model);
  return c.json(await paymentInfo(c, q.subnet, q.model, price, q.requestId, pricing));
});

/**
 * Who this gateway is on chain: the domain clients sign vouchers, stream challenges and
 * RequestAccess claims in, and the gateway address sessions and escrows name.
 */
quoteRoutes.get("/v1/gateway", (c) => {
  const config = configOf(c.env);
  return c.json({
    chainId: config.CHAIN_ID,
    paymentContract: config.PAYMENT_CONTRACT,
    token: config.TOKEN_CONTRACT,
    gateway: chainOf(config).gateway,
  });
});

/**
 * The price of a request and how to pay it: what a 402 carries and `/v1/quote` returns. With
 * `pricing` (a model priced per token) `price` is the base fee per request and `pricing` the
 * per-token prices and how a request's maximum is bounded; a 402 names the request's maximum.
 */
export async function paymentInfo(
  c: AppContext,
  subnet: string,
  model: string,
  price: bigint,
  requestId?: string,
  pricing?: TokenPrices,
) {
  const config = configOf(c.env);
  const gateway = chainOf(config).gateway;
  return {
    subnet,
    model,
    price: price.toString(),
    ...(pricing
      ? {
          pricing: {
            ...pricing,
            rule: "generate and embed requests are authorised for base + prompt bound x promptToken + max_tokens x completionToken and charged base + prompt_tokens x promptToken + completion_tokens x completionToken (never above what was authorised); the prompt bound is the UTF-8 bytes of the texts plus promptTokenAllowance",
            promptTokenAllowance: PROMPT_TOKEN_ALLOWANCE,
          },
        }
      : {}),
    currency: "NCN",
    chainId: config.CHAIN_ID,
    token: config.TOKEN_CONTRACT,
    paymentContract: config.PAYMENT_CONTRACT,
    gateway,
    modes: {
      session: {
        how: "open a session for this gateway (InferencePayment.openSession), register it with POST /v1/sessions, then sign an EIP-712 Voucher with the cumulative amount for each request",
        voucherTypes: "Voucher(bytes32 sessionId,uint256 cumulativeAmount)",
      },
      apiKey: {
        how: "send Authorization: Bearer ncn-… instead of a payment field: a key made by `ncn key create` (a session of yours whose delegate signer the key holds; the gateway signs its vouchers up to the deposit)",
      },
      escrow: {
        how: "approve NCN and call InferencePayment.initiateInferenceRequest(requestKey, subnetId, gateway, amount, expiry), then send the request with payment {mode: 'escrow'} and the escrow client's EIP-712 RequestAccess {requestId: requestKey, gateway} signature in the ncn-access header",
        ...(requestId ? { requestId, requestKey: idToBytes32(requestId) } : {}),
        subnetId: idToBytes32(subnet),
      },
    },
  };
}

import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorBody } from "@ncn/protocol";
import * as v from "valibot";
import { type GatewayHandle, startGateway } from "./local.ts";

// A gateway configured with a published development key (anvil's first account) and a chain
// that is not on this machine: anyone could sign as it. The Worker refuses to serve.
const ANVIL_0 = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80";

let gw: GatewayHandle;
beforeAll(async () => {
  gw = await startGateway({
    CHAIN_ID: "8453",
    RPC_URL: "https://rpc.example/v1",
    PAYMENT_CONTRACT: `0x${"11".repeat(20)}`,
    VALIDATOR_REGISTRY: `0x${"12".repeat(20)}`,
    TOKEN_CONTRACT: `0x${"13".repeat(20)}`,
    REGISTRY_URLS: "http://127.0.0.1:9",
    GATEWAY_PRIVATE_KEY: ANVIL_0,
  });
}, 60_000);
afterAll(async () => {
  await gw?.stop();
});

test("a published development key with a remote chain: every route answers 503 naming the setting, never the key", async () => {
  const health = await fetch(`${gw.url}/health`);
  const said = await health.text();
  expect(health.status).toBe(503);
  expect(JSON.parse(said)).toMatchObject({ ok: false, status: "misconfigured" });
  expect(said).toContain("GATEWAY_PRIVATE_KEY");
  expect(said).not.toContain(ANVIL_0.slice(2, 20));
  for (const path of ["/v1/network", "/v1/quote?subnet=default&model=tiny-mlp"]) {
    const res = await fetch(`${gw.url}${path}`);
    const text = await res.text();
    expect(res.status).toBe(503);
    const body = v.parse(ErrorBody, JSON.parse(text));
    expect(body.error.code).toBe("UNAVAILABLE");
    expect(body.error.details).toEqual({ settings: ["GATEWAY_PRIVATE_KEY"] });
    expect(text).not.toContain(ANVIL_0.slice(2, 20));
  }
});

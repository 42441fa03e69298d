import { afterAll, beforeAll, expect, test } from "bun:test";
import { ErrorBody } from "@ncn/protocol";
import * as v from "valibot";
import { ChainUnavailableError } from "./chain/port.ts";
import { type GatewayHandle, startGateway } from "./local.ts";
import { safeToken, settlementProblemOf } from "./logic/settlement-problem.ts";

// A chain node that fails every call, reached through a URL that holds an API key, answering
// with a body that names a marker: neither may reach a public route.
const SECRET = "sk_live_9f8e7d6c5b4a";
/** What `/v1/network` says of settlement problems (the part this test reads). */
const NetworkProblems = v.object({
  settlement: v.object({ problems: v.array(v.object({ code: v.string(), message: v.string() })) }),
});
const MARKER = "INTERNAL-NODE-DETAIL-7731";
const rpc = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: () => new Response(`upstream failure ${MARKER}`, { status: 500 }),
});
const registry = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v1/subnets") return Response.json({ subnets: [] });
    if (path === "/v1/models") return Response.json({ models: [] });
    if (path === "/health") return Response.json({ ok: true });
    return new Response("not found", { status: 404 });
  },
});

const VARS = {
  CHAIN_ID: "31337",
  RPC_URL: `http://127.0.0.1:${rpc.port}/v3/${SECRET}?apikey=${SECRET}`,
  PAYMENT_CONTRACT: `0x${"11".repeat(20)}`,
  VALIDATOR_REGISTRY: `0x${"12".repeat(20)}`,
  TOKEN_CONTRACT: `0x${"13".repeat(20)}`,
  REGISTRY_URLS: `http://127.0.0.1:${registry.port}`,
  VALIDATION_THRESHOLD: "1",
  GATEWAY_PRIVATE_KEY: `0x${"22".repeat(32)}`,
};

let gw: GatewayHandle;
beforeAll(async () => {
  gw = await startGateway(VARS);
}, 60_000);
afterAll(async () => {
  await gw.stop();
  rpc.stop(true);
  registry.stop(true);
});

function expectClean(text: string): void {
  expect(text).not.toContain(SECRET);
  expect(text).not.toContain(MARKER);
  expect(text).not.toContain(String(rpc.port));
}

test("a failing chain RPC shows as CHAIN_UNAVAILABLE on /v1/network and /health, never its URL or body", async () => {
  const ns = await gw.mf.getDurableObjectNamespace("SETTLEMENT");
  const settlement = ns.get(ns.idFromName("main")) as unknown as {
    addMany(entries: unknown[]): Promise<void>;
    flush(): Promise<void>;
  };
  await settlement.addMany([
    {
      requestId: "leak-1",
      sessionId: `0x${"aa".repeat(32)}`,
      agent: `0x${"bb".repeat(20)}`,
      price: "1",
      receiptDigest: `0x${"cc".repeat(32)}`,
      attesters: [VARS.REGISTRY_URLS],
    },
  ]);
  await settlement.flush();

  const network = await fetch(`${gw.url}/v1/network`);
  const text = await network.text();
  expect(network.status).toBe(200);
  const body = v.parse(NetworkProblems, JSON.parse(text));
  expect(body.settlement.problems.map((p) => p.code)).toContain("CHAIN_UNAVAILABLE");
  expectClean(text);

  const health = await fetch(`${gw.url}/health`);
  expectClean(await health.text());
});

test("a route that reads the chain answers a typed CHAIN_ERROR with fixed text", async () => {
  const res = await fetch(`${gw.url}/v1/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sessionId: `0x${"ab".repeat(32)}` }),
  });
  const text = await res.text();
  expect(res.status).toBe(502);
  const body = v.parse(ErrorBody, JSON.parse(text));
  expect(body.error.code).toBe("CHAIN_ERROR");
  expect(body.error.details).toEqual({ reason: "chain_unavailable" });
  expectClean(text);
});

test("settlement problems keep codes and plain tokens only", () => {
  const p = settlementProblemOf(
    new ChainUnavailableError({ cause: new Error(`HTTP 500 at https://rpc.example/v3/${SECRET}`) }),
    "0x01",
  );
  expect(p.code).toBe("CHAIN_UNAVAILABLE");
  expect(JSON.stringify(p)).not.toContain(SECRET);
  expect(settlementProblemOf(new Error(`boom ${MARKER}`)).message).not.toContain(MARKER);
  expect(safeToken("voucher_used")).toBe("voucher_used");
  expect(safeToken("sessions[0].voucherAmount")).toBe("sessions[0].voucherAmount");
  expect(safeToken(`see ${MARKER} at https://x/${SECRET}`)).toBeNull();
});

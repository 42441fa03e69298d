import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type LocalChain, mintTokens, openSession, startLocalChain } from "@ncn/contracts";
import { ErrorCodeSchema, ncnDomain, typedData } from "@ncn/protocol";
import {
  bodyText,
  FUZZ_RUNS,
  FUZZ_SEED,
  hexDigits as hex,
  hostileValue,
  mutatedBody,
  type RawText,
} from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type GatewayHandle, startGateway } from "./local.ts";

// Property-based tests over the gateway's public HTTP routes and the session stream's
// frames, against the Worker in workerd with a real chain (anvil) and a registry stand-in
// serving a catalog: random and mutated bodies, wrong types, huge numbers, deep nesting,
// oversized strings. Every answer must be a typed 4xx error, never a 5xx or a crash, and
// nothing may be charged. Fixed seed: a failure replays.

const SEED = FUZZ_SEED;
const RUNS = FUZZ_RUNS;
const MODEL = {
  id: "fz-model",
  sha256: `0x${"ab".repeat(32)}`,
  size: 219,
  runtime: "onnx",
  sources: ["https://models.example/fz.onnx"],
  inputs: [{ name: "x", dtype: "float32", dims: ["batch", 4] }],
  outputs: [{ name: "y", dtype: "float32", dims: ["batch", 3] }],
};
const registry = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch(req) {
    const path = new URL(req.url).pathname;
    if (path === "/v1/subnets")
      return Response.json({
        subnets: [
          {
            id: "fz",
            name: "fuzz",
            owner: `0x${"01".repeat(20)}`,
            models: [{ id: MODEL.id, price: "1000" }],
          },
        ],
      });
    if (path === "/v1/models") return Response.json({ models: [MODEL] });
    if (path === "/v1/agents" || path === "/v1/reputation") return Response.json({ agents: [] });
    // Up, so the gateway's quorum check lets work in (nothing here ever attests it).
    if (path === "/health") return Response.json({ ok: true });
    return new Response("not found", { status: 404 });
  },
});

let chain: LocalChain;
let gw: GatewayHandle;
let sessionId: `0x${string}`;
const stranger = privateKeyToAccount(generatePrivateKey());
let strangerVoucher: `0x${string}`;

beforeAll(async () => {
  chain = await startLocalChain({ validators: 1 });
  const gatewayKey = generatePrivateKey();
  const gatewayAddress = privateKeyToAccount(gatewayKey).address;
  const clientKey = generatePrivateKey();
  const client = privateKeyToAccount(clientKey);
  await chain.fundEther(client.address);
  await mintTokens(chain.client(chain.deployerKey), chain.contracts, {
    to: client.address,
    amount: 10n ** 21n,
  });
  ({ sessionId } = await openSession(chain.client(clientKey), chain.contracts, {
    gateway: gatewayAddress,
    amount: 10n ** 20n,
    expiry: BigInt(Math.floor(Date.now() / 1000) + 3600),
  }));
  strangerVoucher = await stranger.signTypedData(
    typedData(ncnDomain(31337, chain.contracts.payment), "Voucher", { sessionId, cumulativeAmount: 1000n }),
  );
  gw = await startGateway({
    CHAIN_ID: "31337",
    RPC_URL: chain.anvil.url,
    PAYMENT_CONTRACT: chain.contracts.payment,
    VALIDATOR_REGISTRY: chain.contracts.registry,
    TOKEN_CONTRACT: chain.contracts.token,
    REGISTRY_URLS: `http://127.0.0.1:${registry.port}`,
    GATEWAY_PRIVATE_KEY: gatewayKey,
    NO_AGENT_WAIT_MS: "0",
    VALIDATION_THRESHOLD: "1",
    MAX_BODY_BYTES: String(256 * 1024),
  });
}, 60_000);

afterAll(async () => {
  await gw?.stop();
  await chain?.stop();
  registry.stop(true);
});

const ErrorBody = v.object({ error: v.object({ code: ErrorCodeSchema, message: v.string() }) });

/** Sends one request; fails the property on a 5xx, an untyped error body, or a 2xx. */
async function expectTyped4xx(path: string, init: RequestInit): Promise<void> {
  const res = await fetch(`${gw.url}${path}`, init);
  const text = await res.text();
  if (res.status < 400 || res.status >= 500) {
    throw new Error(`${init.method ?? "GET"} ${path} answered ${res.status}: ${text.slice(0, 300)}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`${path} answered ${res.status} with a body that is not JSON: ${text.slice(0, 200)}`);
  }
  if (!v.is(ErrorBody, json)) throw new Error(`${path} answered an untyped error: ${text.slice(0, 300)}`);
}

function validInference() {
  return {
    subnet: "fz",
    model: MODEL.id,
    requestId: "fz-req",
    inputs: {
      x: { dtype: "float32", dims: [1, 4], data: Buffer.from(new Float32Array(4).buffer).toString("base64") },
    },
    payment: { mode: "session", sessionId, cumulativeAmount: "1000", signature: strangerVoucher },
  };
}

const bodies = (base: Record<string, unknown>) =>
  fc.oneof(
    { arbitrary: mutatedBody(base), weight: 6 },
    { arbitrary: hostileValue, weight: 2 },
    { arbitrary: fc.string({ maxLength: 2000 }).map((raw): RawText => ({ raw })), weight: 1 },
  );

function init(method: string, body: unknown): RequestInit {
  return { method, headers: { "content-type": "application/json" }, body: bodyText(body) };
}

const params = { seed: SEED, numRuns: RUNS, endOnFailure: true } as const;

describe("fuzzed HTTP routes answer typed 4xx errors and charge nothing", () => {
  test("POST /v1/inference", async () => {
    await fc.assert(
      fc.asyncProperty(bodies(validInference()), async (b) =>
        expectTyped4xx("/v1/inference", init("POST", b)),
      ),
      params,
    );
  }, 600_000);

  test("POST /v1/ocr", async () => {
    const base = { subnet: "fz", model: MODEL.id, image: "iVBORw0KGgo=", payment: validInference().payment };
    await fc.assert(
      fc.asyncProperty(bodies(base), async (b) => expectTyped4xx("/v1/ocr", init("POST", b))),
      params,
    );
  }, 600_000);

  test("POST /v1/sessions", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          bodies({ sessionId: `0x${"cd".repeat(32)}` }),
          hex(64).map((h: string) => ({ sessionId: `0x${h}` })),
        ),
        async (b) => expectTyped4xx("/v1/sessions", init("POST", b)),
      ),
      params,
    );
  }, 600_000);

  test("POST /v1/sessions/:id/vouchers", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.oneof(
          fc.constant(sessionId),
          fc.string({ maxLength: 100 }),
          hex(64).map((h: string) => `0x${h}`),
        ),
        bodies({ cumulativeAmount: "1000", signature: strangerVoucher }),
        async (id, b) => expectTyped4xx(`/v1/sessions/${encodeURIComponent(id)}/vouchers`, init("POST", b)),
      ),
      params,
    );
  }, 600_000);

  test("GET /v1/quote", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom("subnet", "model", "requestId", "x"), fc.string({ maxLength: 300 })),
        async (q) => {
          // The only valid pair answers 200: skip it.
          if (q.subnet === "fz" && q.model === MODEL.id) return;
          await expectTyped4xx(`/v1/quote?${new URLSearchParams(q)}`, { method: "GET" });
        },
      ),
      params,
    );
  }, 600_000);

  test("GET and DELETE /v1/inference/:id, /events: unknown ids and forged access", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.string({ minLength: 1, maxLength: 300 }),
        fc.constantFrom("GET", "DELETE"),
        fc.constantFrom("", "/events"),
        fc.option(
          fc.oneof(
            fc.string({ maxLength: 200 }),
            hex(130).map((h: string) => `0x${h}`),
          ),
        ),
        async (id, method, suffix, access) => {
          const headers: Record<string, string> =
            access === null ? {} : { "ncn-access": access.replace(/[\r\n]/g, "") };
          await expectTyped4xx(`/v1/inference/${encodeURIComponent(id)}${suffix}`, { method, headers });
        },
      ),
      params,
    );
  }, 600_000);

  test("nothing was charged or queued for settlement", async () => {
    const res = await fetch(`${gw.url}/v1/sessions`, init("POST", { sessionId }));
    expect(res.status).toBe(201);
    expect(((await res.json()) as { charged: string }).charged).toBe("0");
    const network = (await (await fetch(`${gw.url}/v1/network`)).json()) as {
      settlement: { pending: { count: number } };
    };
    expect(network.settlement.pending.count).toBe(0);
  });
});

describe("fuzzed stream frames", () => {
  test("random, mutated and interleaved frames get typed error frames; the socket never crashes the gateway", async () => {
    const frame = fc.oneof(
      mutatedBody({ type: "auth", signature: strangerVoucher }),
      mutatedBody({ type: "voucher", amount: "1000", signature: strangerVoucher }),
      mutatedBody({ type: "infer", id: "a", model: MODEL.id, inputs: validInference().inputs }),
      hostileValue,
      fc.string({ maxLength: 500 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 8 }), async (frames) => {
        const ws = new WebSocket(
          `${gw.url.replace(/^http/, "ws")}/v1/sessions/${sessionId}/stream?subnet=fz`,
        );
        const got: unknown[] = [];
        ws.addEventListener("message", (e) => got.push(JSON.parse(String(e.data))));
        await new Promise((resolve, reject) => {
          ws.addEventListener("open", resolve, { once: true });
          ws.addEventListener("error", reject, { once: true });
        });
        for (const f of frames) ws.send(typeof f === "string" ? f : JSON.stringify(f));
        await new Promise((r) => setTimeout(r, 20));
        ws.close();
        for (const m of got) {
          const type = (m as { type?: string }).type;
          if (type === "error") expect(v.is(ErrorCodeSchema, (m as { code?: string }).code)).toBe(true);
          else expect(["challenge", "ready"]).toContain(type ?? "");
        }
      }),
      params,
    );
    const health = await fetch(`${gw.url}/health`);
    expect(health.status).toBe(200);
  }, 600_000);
});

import { afterEach, expect, test } from "bun:test";
import { errorBody } from "@ncn/protocol";
import type { Server } from "bun";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { IDLE_ACKNOWLEDGE_MS, NcnClient } from "./client.ts";

// A stand-in gateway that keeps a session ledger the way the real one does (a voucher must
// cover everything charged plus this request), and a network that loses chosen answers: the
// request reaches the gateway and runs, but the client never hears back.

const PRICE = 100n;
const sessionId = `0x${"ab".repeat(32)}` as const;
const gateway = `0x${"11".repeat(20)}`;
const contract = `0x${"22".repeat(20)}`;

let server: Server<undefined> | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
});

const Body = v.object({
  requestId: v.string(),
  payment: v.object({ cumulativeAmount: v.string() }),
});

function standIn(fails: ReadonlySet<string>) {
  const ledger = {
    charged: 0n,
    vouchers: [] as bigint[],
    acks: [] as bigint[],
    states: new Map<string, string>(),
  };
  const response = (requestId: string, state: string) => ({
    requestId,
    state,
    subnet: "default",
    model: "tiny-mlp",
    price: PRICE.toString(),
    createdAt: 1,
    updatedAt: 2,
    ...(state === "failed" ? { error: { code: "DEADLINE_EXCEEDED", message: "too late" } } : {}),
  });
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/v1/quote") {
        return Response.json({
          subnet: "default",
          model: "tiny-mlp",
          price: PRICE.toString(),
          currency: "NCN",
          chainId: 31337,
          token: contract,
          paymentContract: contract,
          gateway,
          modes: {},
        });
      }
      if (url.pathname === "/v1/gateway") {
        return Response.json({ chainId: 31337, paymentContract: contract, token: contract, gateway });
      }
      if (url.pathname === "/v1/sessions") {
        return Response.json({
          sessionId,
          client: gateway,
          deposit: "1000000",
          settled: "0",
          charged: ledger.charged.toString(),
          expiry: 2_000_000_000,
        });
      }
      if (url.pathname === `/v1/sessions/${sessionId}/vouchers` && req.method === "POST") {
        const body = v.parse(v.object({ cumulativeAmount: v.string() }), await req.json());
        ledger.acks.push(BigInt(body.cumulativeAmount));
        return Response.json({ sessionId, ...body }, { status: 201 });
      }
      if (url.pathname === "/v1/inference" && req.method === "POST") {
        const body = v.parse(Body, await req.json());
        const voucher = BigInt(body.payment.cumulativeAmount);
        ledger.vouchers.push(voucher);
        if (voucher < ledger.charged + PRICE) {
          return Response.json(errorBody("PAYMENT_REQUIRED", "the voucher does not cover this request"), {
            status: 402,
          });
        }
        const state = fails.has(body.requestId) ? "failed" : "returned";
        if (state === "returned") ledger.charged += PRICE;
        ledger.states.set(body.requestId, state);
        return Response.json(response(body.requestId, state));
      }
      const id = url.pathname.match(/^\/v1\/inference\/([^/]+)$/)?.[1];
      const state = id ? ledger.states.get(id) : undefined;
      if (id && state) return Response.json(response(id, state));
      return Response.json(errorBody("REQUEST_NOT_FOUND", "no such request"), { status: 404 });
    },
  });
  return { url: `http://127.0.0.1:${server.port}`, ledger };
}

/** A fetch that delivers every request but loses the answer to those named in `lose`. */
function lossyFetch(lose: Set<string>): typeof fetch {
  const f = async (input: RequestInfo | URL, init?: RequestInit) => {
    const res = await fetch(input, init);
    const id = typeof init?.body === "string" ? /"requestId":"([^"]+)"/.exec(init.body)?.[1] : undefined;
    if (id && lose.delete(id)) throw new TypeError("socket connection was closed unexpectedly");
    return res;
  };
  return f as typeof fetch;
}

/** A client on a registered session of a stand-in gateway where the requests named in `fails` fail. */
async function sessionClient(fails: ReadonlySet<string>) {
  const { url, ledger } = standIn(fails);
  const client = new NcnClient({ gatewayUrl: url, account: privateKeyToAccount(generatePrivateKey()) });
  await client.registerSession(sessionId);
  const tensor = { x: { dtype: "float32" as const, dims: [1, 1], data: new Float32Array([1]) } };
  const infer = (requestId: string) =>
    client.infer({ subnet: "default", model: "tiny-mlp", requestId, inputs: tensor });
  return { client, ledger, infer };
}

test("a request whose answer was lost stays covered by later vouchers until it is read back", async () => {
  const { url, ledger } = standIn(new Set(["r4"]));
  const lose = new Set(["r1", "r4"]);
  const client = new NcnClient({
    gatewayUrl: url,
    account: privateKeyToAccount(generatePrivateKey()),
    fetch: lossyFetch(lose),
  });
  await client.registerSession(sessionId);
  const tensor = { x: { dtype: "float32" as const, dims: [1, 1], data: new Float32Array([1]) } };
  const infer = (requestId: string) =>
    client.infer({ subnet: "default", model: "tiny-mlp", requestId, inputs: tensor });

  // r1 runs and is charged, but its answer is lost on the way back.
  await expect(infer("r1")).rejects.toThrow(/closed unexpectedly/);
  expect(ledger.charged).toBe(PRICE);
  // The next voucher still covers r1: without that, every later request is refused (402).
  expect((await infer("r2")).response.state).toBe("returned");
  expect(ledger.vouchers[1]).toBeGreaterThanOrEqual(2n * PRICE);
  // Read back, r1 counts as spent: the next voucher is exactly what is owed.
  expect((await client.status("r1")).state).toBe("returned");
  expect((await infer("r3")).response.state).toBe("returned");
  expect(ledger.vouchers[2]).toBe(3n * PRICE);

  // r4 failed at the gateway (not charged) and its answer was lost too: once read back as
  // failed it is no longer covered.
  await expect(infer("r4")).rejects.toThrow(/closed unexpectedly/);
  expect((await client.status("r4")).state).toBe("failed");
  expect((await infer("r5")).response.state).toBe("returned");
  // (each voucher amount is signed once: r4's own 4 * PRICE is taken, so one unit more)
  expect(ledger.vouchers.at(-1)).toBeGreaterThanOrEqual(4n * PRICE);
  expect(ledger.vouchers.at(-1)).toBeLessThan(5n * PRICE);
  expect(ledger.charged).toBe(4n * PRICE);
});

test("a typed refusal from the gateway is final: nothing stays covered for it", async () => {
  const { url, ledger } = standIn(new Set());
  const client = new NcnClient({ gatewayUrl: url, account: privateKeyToAccount(generatePrivateKey()) });
  await client.registerSession(sessionId);
  ledger.charged = 10n * PRICE; // charged elsewhere: this client's vouchers fall short
  const tensor = { x: { dtype: "float32" as const, dims: [1, 1], data: new Float32Array([1]) } };
  await expect(
    client.infer({ subnet: "default", model: "tiny-mlp", requestId: "q1", inputs: tensor }),
  ).rejects.toMatchObject({ code: "PAYMENT_REQUIRED" });
  ledger.charged = 0n;
  await client.infer({ subnet: "default", model: "tiny-mlp", requestId: "q2", inputs: tensor });
  expect(ledger.vouchers.at(-1)).toBeGreaterThanOrEqual(PRICE);
  expect(ledger.vouchers.at(-1)).toBeLessThan(2n * PRICE);
});

test("back-to-back requests need no acknowledgement between them: the next voucher covers what is owed", async () => {
  const { ledger, infer } = await sessionClient(new Set(["f1"]));
  // After f1 failed and g1 returned, no voucher equals the one charge ...
  expect((await infer("f1")).response.state).toBe("failed");
  expect((await infer("g1")).response.state).toBe("returned");
  // ... but the next request follows at once: its voucher covers the charge, and no
  // acknowledgement competed with it at the gateway.
  expect((await infer("g2")).response.state).toBe("returned");
  expect(ledger.vouchers).toEqual([PRICE, PRICE + 1n, 2n * PRICE]);
  await new Promise((r) => setTimeout(r, IDLE_ACKNOWLEDGE_MS + 150));
  expect(ledger.acks).toEqual([]);
});

test("once idle after a failed request, the client acknowledges exactly what it received", async () => {
  const { client, ledger, infer } = await sessionClient(new Set(["f1"]));
  // f1 fails (its voucher for PRICE is spent on it); g1 then signs one unit more.
  expect((await infer("f1")).response.state).toBe("failed");
  expect((await infer("g1")).response.state).toBe("returned");
  expect(ledger.vouchers).toEqual([PRICE, PRICE + 1n]);
  expect(ledger.charged).toBe(PRICE);
  // No voucher equals the one charge: the client posts one that does, by itself.
  for (let i = 0; i < 100 && ledger.acks.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
  expect(ledger.acks).toEqual([PRICE]);
  // Asked again, it acknowledges the same amount; after an exact voucher nothing more is sent.
  expect(await client.acknowledge()).toBe(PRICE);
  expect((await infer("g2")).response.state).toBe("returned");
  expect(ledger.vouchers.at(-1)).toBe(2n * PRICE);
  await new Promise((r) => setTimeout(r, 50));
  expect(ledger.acks).toEqual([PRICE, PRICE]);
});

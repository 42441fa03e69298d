import { afterEach, expect, test } from "bun:test";
import { BaseError, errorBody, sseEvent } from "@ncn/protocol";
import type { Server } from "bun";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { NcnClient } from "./client.ts";

// A stand-in gateway answering POST /v1/generate with an event stream whose tokens come
// 30 ms apart, then the final event it is told to send.

const PRICE = 100n;
const sessionId = `0x${"ab".repeat(32)}` as const;
const contract = `0x${"22".repeat(20)}`;
const TEXTS = ["Once", " upon", " a", " time"];

let server: Server<undefined> | undefined;
afterEach(() => {
  server?.stop(true);
  server = undefined;
});

function standIn(ending: "returned" | "failed" | "cut" | "refused") {
  const seen = { cancelled: [] as string[], acknowledged: [] as string[], bodies: [] as unknown[] };
  const response = (requestId: string, state: string) => ({
    requestId,
    state,
    subnet: "chat",
    model: "ncn-gpt",
    price: PRICE.toString(),
    createdAt: 1,
    updatedAt: 2,
    ...(state === "returned"
      ? {
          result: {
            kind: "generate",
            text: TEXTS.join(""),
            tokens: [1, 2, 3, 4],
            prompt_tokens: 2,
            completion_tokens: 4,
            finish_reason: "length",
          },
        }
      : { error: { code: "STREAM_INTERRUPTED", message: "the agent was lost mid-stream" } }),
  });
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const url = new URL(req.url);
      if (url.pathname === "/v1/quote")
        return Response.json({
          subnet: "chat",
          model: "ncn-gpt",
          price: PRICE.toString(),
          currency: "NCN",
          chainId: 31337,
          token: contract,
          paymentContract: contract,
          gateway: contract,
          modes: {},
        });
      if (url.pathname === "/v1/gateway")
        return Response.json({
          chainId: 31337,
          paymentContract: contract,
          token: contract,
          gateway: contract,
        });
      if (url.pathname.endsWith("/vouchers")) {
        seen.acknowledged.push(((await req.json()) as { cumulativeAmount: string }).cumulativeAmount);
        return Response.json({ ok: true });
      }
      if (req.method === "DELETE") {
        const id = url.pathname.split("/").at(-1) ?? "";
        seen.cancelled.push(id);
        return Response.json(response(id, "cancelled"));
      }
      if (url.pathname.startsWith("/v1/inference/"))
        return Response.json(response(url.pathname.split("/").at(-1) ?? "", "cancelled"));
      const body = (await req.json()) as { requestId: string };
      seen.bodies.push(body);
      if (ending === "refused")
        return Response.json(errorBody("INSUFFICIENT_FUNDS", "the session is spent"), { status: 402 });
      const enc = new TextEncoder();
      const stream = new ReadableStream<Uint8Array>({
        async start(c) {
          c.enqueue(
            enc.encode(sseEvent("progress", { requestId: body.requestId, state: "dispatched", at: 1 })),
          );
          for (const [index, text] of TEXTS.entries()) {
            await Bun.sleep(30);
            c.enqueue(
              enc.encode(sseEvent("token", { requestId: body.requestId, index, token: index + 1, text })),
            );
          }
          if (ending !== "cut") c.enqueue(enc.encode(sseEvent("final", response(body.requestId, ending))));
          c.close();
        },
      });
      return new Response(stream, { headers: { "content-type": "text/event-stream" } });
    },
  });
  const client = new NcnClient({
    gatewayUrl: `http://127.0.0.1:${server.port}`,
    account: privateKeyToAccount(generatePrivateKey()),
  });
  client.useSession(sessionId, 0n);
  return { client, seen };
}

const opts = { subnet: "chat", model: "ncn-gpt", prompt: "Once", sampling: { max_tokens: 4 } };

test("tokens come one by one before the final response; they join to its text; the request is owed once returned", async () => {
  const { client, seen } = standIn("returned");
  const progress: string[] = [];
  const t0 = performance.now();
  const stream = await client.generateStream({ ...opts, onProgress: (e) => progress.push(e.state) });
  expect(seen.bodies[0]).toMatchObject({ stream: true, model: "ncn-gpt" });
  const at: number[] = [];
  const texts: string[] = [];
  for await (const t of stream) {
    at.push(performance.now() - t0);
    texts.push(t.text);
    expect<string>(t.requestId).toBe(stream.requestId);
  }
  const response = await stream.response;
  expect(response.state).toBe("returned");
  expect(texts.join("")).toBe(response.result?.kind === "generate" ? response.result.text : "");
  // Each token was handed over as it came, not all at the end.
  expect((at[3] ?? 0) - (at[0] ?? 0)).toBeGreaterThan(60);
  expect(progress).toEqual(["dispatched"]);
  expect(await client.acknowledge()).toBe(PRICE);
});

test("a failed stream throws its typed error from the loop and from response; nothing is owed", async () => {
  const { client } = standIn("failed");
  const stream = await client.generateStream(opts);
  const texts: string[] = [];
  let thrown: unknown;
  try {
    for await (const t of stream) texts.push(t.text);
  } catch (e) {
    thrown = e;
  }
  expect(texts).toEqual(TEXTS);
  expect(thrown instanceof BaseError ? thrown.code : thrown).toBe("STREAM_INTERRUPTED");
  await expect(stream.response).rejects.toMatchObject({ code: "STREAM_INTERRUPTED" });
  expect(await client.acknowledge()).toBeUndefined();
});

test("a refused payment throws when the stream is opened", async () => {
  const { client } = standIn("refused");
  await expect(client.generateStream(opts)).rejects.toMatchObject({ code: "INSUFFICIENT_FUNDS" });
});

test("a stream cut off before its final event leaves the request unanswered until read back", async () => {
  const { client } = standIn("cut");
  const stream = await client.generateStream(opts);
  await expect(stream.response).rejects.toMatchObject({ code: "UNAVAILABLE" });
  await expect(client.acknowledge()).rejects.toMatchObject({ code: "BAD_REQUEST" });
  // Read back: it ended without a charge (the stand-in says cancelled), so nothing is owed.
  await client.status(stream.requestId);
  expect(await client.acknowledge()).toBeUndefined();
});

test("leaving the loop early cancels the request", async () => {
  const { client, seen } = standIn("returned");
  const stream = await client.generateStream(opts);
  for await (const t of stream) {
    expect(t.index).toBe(0);
    break;
  }
  await Bun.sleep(100);
  expect(seen.cancelled).toEqual([stream.requestId]);
});

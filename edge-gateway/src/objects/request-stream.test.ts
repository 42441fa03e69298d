import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { openSession } from "@ncn/contracts/actions";
import { devKey, type LocalChain, startLocalChain } from "@ncn/contracts/dev";
import {
  type GenerateResult,
  type InferenceResponse,
  idToBytes32,
  ModelDescriptor,
  ncnDomain,
  Payment,
  REQUEST_ACCESS_HEADER,
  type RequestStreamEvent,
  readRequestEvents,
  requestAccessData,
  TaskInput,
  type TokenDelta,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type GatewayHandle, startGateway } from "../local.ts";
import type { SubmitInput } from "../logic/request/index.ts";
import { TestAgentPeer } from "../testing/agent-client.ts";

/**
 * Streaming `generate` requests through the real gateway in workerd, paid from a real session
 * on anvil, with test agent peers: tokens reach the request's event stream in order before the
 * result, a stranger's are dropped, and an agent lost mid-stream fails the request uncharged.
 * The registry and validators are a stand-in (the gateway's side of them is what is tested).
 */
const SUBNET = "chat";
const PRICE = 1000n;
const RETENTION_MS = 4_000;
const WAD = 10n ** 18n;
const clientKey = devKey("stream-client");
const gatewayKey = devKey("stream-gateway");
const client = privateKeyToAccount(clientKey);
const gatewayAddress = privateKeyToAccount(gatewayKey).address;

/** Agents the stand-ins list as alive; validation calls they answered, by path. */
const listed = new Set<string>();
const validated: string[] = [];
/** Every validation call of the third stand-in, as `path:requestId:status`. */
const thirdCalls: string[] = [];

/**
 * Three stand-in validators (2 of 3 must attest). The third loses the first preprocess ask of
 * a `catchup-` request (answers 503 and keeps nothing), then refuses its completion as a
 * validator that never pre-attested does, until it is pre-attested.
 */
function standIn(index: number) {
  const preattested = new Set<string>();
  const lost = new Set<string>();
  return Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/v1/agents")
        return Response.json({
          agents: [...listed].map((address) => ({
            address,
            aliveUntil: Date.now() + 60_000,
            reputation: { score: 0 },
          })),
        });
      if (path === "/health") return Response.json({ ok: true });
      if (path === "/v1/validate/preprocess" || path === "/v1/validate/completion") {
        const body = (await req.json()) as { requestId: string };
        const note = (status: number) => {
          if (index === 2) thirdCalls.push(`${path}:${body.requestId}:${status}`);
        };
        const refused = (status: 400 | 503): Response => {
          note(status);
          const error =
            status === 503
              ? { code: "UNAVAILABLE", message: "lost" }
              : {
                  code: "VALIDATION_REFUSED",
                  message: "this validator did not pre-attest this request for this agent",
                  details: { reason: "not_preattested" },
                };
          return Response.json({ error }, { status });
        };
        if (index === 2 && body.requestId.startsWith("catchup-")) {
          if (path.endsWith("preprocess") && !lost.has(body.requestId)) {
            lost.add(body.requestId);
            return refused(503);
          }
          if (path.endsWith("completion") && !preattested.has(body.requestId)) return refused(400);
        }
        if (path.endsWith("preprocess")) preattested.add(body.requestId);
        note(200);
        validated.push(`${path}:${body.requestId}`);
        return Response.json({
          requestId: idToBytes32(body.requestId),
          attestation: {
            validator: `0x${String(77 + index).repeat(20)}`,
            phase: path.endsWith("preprocess") ? 0 : 1,
            subject: `0x${"44".repeat(32)}`,
            outputHash: `0x${"02".repeat(32)}`,
            signature: `0x${"55".repeat(65)}`,
          },
        });
      }
      return new Response("not found", { status: 404 });
    },
  });
}
const registries = [standIn(0), standIn(1), standIn(2)];

let chain: LocalChain;
let gw: GatewayHandle;
let sessionId: `0x${string}`;
let voucherAmount = 0n;

beforeAll(async () => {
  chain = await startLocalChain({
    validators: 1,
    deploy: {
      fund: [
        { address: client.address, tokens: 1_000n * WAD, ether: WAD },
        { address: gatewayAddress, ether: WAD },
      ],
    },
  });
  const now = (await chain.client(chain.deployerKey).getBlock()).timestamp;
  ({ sessionId } = await openSession(chain.client(clientKey), chain.contracts, {
    gateway: gatewayAddress,
    amount: 100n * WAD,
    expiry: now + 3_600n,
  }));
  gw = await startGateway({
    CHAIN_ID: String(chain.deployment.chainId),
    RPC_URL: chain.anvil.url,
    PAYMENT_CONTRACT: chain.contracts.payment,
    VALIDATOR_REGISTRY: chain.contracts.registry,
    TOKEN_CONTRACT: chain.contracts.token,
    REGISTRY_URLS: registries.map((r) => `http://127.0.0.1:${r.port}`).join(","),
    VALIDATION_THRESHOLD: "2",
    GATEWAY_PRIVATE_KEY: gatewayKey,
    // Short, for the retention test; the other tests read their requests as they end.
    REQUEST_RETENTION_MS: String(RETENTION_MS),
  });
}, 120_000);

afterAll(async () => {
  await gw?.stop();
  await chain?.stop();
  for (const r of registries) r.stop(true);
});

const domain = () => ncnDomain(chain.deployment.chainId, chain.contracts.payment);

async function agentPeer(): Promise<TestAgentPeer> {
  const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
  listed.add(peer.account.address.toLowerCase());
  await peer.connect(gw.url, SUBNET);
  await peer.waitFor((f) => f.type === "welcome");
  return peer;
}

async function requestStub(requestId: string) {
  const ns = await gw.mf.getDurableObjectNamespace("REQUEST");
  return ns.get(ns.idFromName(requestId)) as unknown as {
    status(): Promise<InferenceResponse | null>;
    cancel(): Promise<InferenceResponse | null>;
    submit(
      input: SubmitInput,
      caller: string | undefined,
    ): Promise<
      { ok: true; value: InferenceResponse } | { ok: false; error: { code: string; message: string } }
    >;
  };
}

async function sessionCharged(): Promise<bigint> {
  const ns = await gw.mf.getDurableObjectNamespace("SESSION");
  const stub = ns.get(ns.idFromName(sessionId)) as unknown as {
    snapshot(): Promise<{ charged: string } | null>;
  };
  return BigInt((await stub.snapshot())?.charged ?? "0");
}

/** Submits a paid streaming generate request straight to its Request object (as a route does). */
async function submitStreaming(requestId: string): Promise<InferenceResponse> {
  voucherAmount += PRICE;
  const signature = await client.signTypedData(
    typedData(domain(), "Voucher", { sessionId, cumulativeAmount: voucherAmount }),
  );
  const stub = await requestStub(requestId);
  const r = await stub.submit(
    {
      requestId,
      subnet: SUBNET,
      input: v.parse(TaskInput, {
        kind: "generate",
        model: "ncn-gpt",
        prompt: "Once upon a time",
        sampling: { max_tokens: 8, temperature: 0 },
      }),
      payment: v.parse(Payment, {
        mode: "session",
        sessionId,
        cumulativeAmount: voucherAmount.toString(),
        signature,
      }),
      price: PRICE.toString(),
      descriptor: v.parse(ModelDescriptor, {
        id: "ncn-gpt",
        sha256: `0x${"ab".repeat(32)}`,
        size: 10,
        runtime: "onnx",
        sources: ["file:/ncn-gpt.causal-lm"],
        inputs: [],
        outputs: [],
      }),
      pipeline: [],
      timeoutMs: 20_000,
      stream: true,
    },
    undefined,
  );
  if (!r.ok) throw new Error(`submit refused: ${r.error.code} ${r.error.message}`);
  return r.value;
}

/** The request's event stream through the gateway's route, read as it comes. */
async function events(requestId: string) {
  const signature = await client.signTypedData(requestAccessData(domain(), requestId, gatewayAddress));
  const res = await fetch(`${gw.url}/v1/inference/${requestId}/events`, {
    headers: { [REQUEST_ACCESS_HEADER]: signature },
  });
  if (!res.ok || !res.body) throw new Error(`events: ${res.status} ${await res.text()}`);
  const got: RequestStreamEvent[] = [];
  let ended = false;
  const reading = (async () => {
    for await (const e of readRequestEvents(res.body as ReadableStream<Uint8Array>)) got.push(e);
    ended = true;
  })();
  const until = async (pred: (all: RequestStreamEvent[]) => boolean, ms = 10_000) => {
    const deadline = Date.now() + ms;
    while (!pred(got)) {
      if (ended || Date.now() > deadline) throw new Error(`events never matched: ${JSON.stringify(got)}`);
      await Bun.sleep(10);
    }
  };
  return { got, until, reading };
}

const tokensOf = (all: RequestStreamEvent[]) => all.flatMap((e) => (e.type === "token" ? [e.event] : []));
const finalOf = (all: RequestStreamEvent[]) => all.find((e) => e.type === "final");
const deltas = (from: number, texts: string[]): TokenDelta[] =>
  texts.map((text, i) => ({ index: from + i, token: 100 + from + i, text }));

describe("streaming generate requests (Request object and Subnet shard in workerd)", () => {
  test("tokens from the agent holding the attempt reach the event stream in order, before the result; a stranger's are dropped; the final text is the validated one", async () => {
    const agent = await agentPeer();
    const requestId = `stream-${Date.now()}`;
    await submitStreaming(requestId);
    const task = await agent.waitFor((f) => f.type === "task" && f.requestId === requestId);
    expect(task).toMatchObject({ kind: "generate", stream: true });
    const stream = await events(requestId);
    const send = (from: number, texts: string[], taskId = task.taskId, who = agent) =>
      who.send({ type: "tokens", taskId, requestId, deltas: deltas(from, texts) });
    send(0, ["Once", " there"]);
    await stream.until((all) => tokensOf(all).length === 2);
    // A stranger (connected and admitted, not holding the task) and a stale attempt are dropped.
    const stranger = await agentPeer();
    send(2, [" FORGED"], String(task.taskId), stranger);
    send(2, [" STALE"], `${requestId}:0`);
    send(2, [" was", " a"]);
    send(4, [" king"]);
    await stream.until((all) => tokensOf(all).length === 5);
    await Bun.sleep(200);
    const tokens = tokensOf(stream.got);
    expect(tokens.map((t) => t.index)).toEqual([0, 1, 2, 3, 4]);
    expect(tokens.map((t) => t.text).join("")).toBe("Once there was a king");
    expect(tokens.every((t) => t.requestId === requestId)).toBe(true);
    expect(finalOf(stream.got)).toBeUndefined();
    // The result (text the client has not seen entirely yet) is what is validated and returned.
    const result: GenerateResult = {
      kind: "generate",
      text: "Once there was a king.",
      tokens: [100, 101, 102, 103, 104],
      prompt_tokens: 4,
      completion_tokens: 5,
      finish_reason: "length",
    };
    send(5, ["."]);
    agent.send(await agent.resultFor(task, result));
    await stream.until((all) => finalOf(all) !== undefined, 15_000);
    const final = finalOf(stream.got);
    if (final?.type !== "final") throw new Error("no final event");
    expect(final.response.state).toBe("returned");
    expect(final.response.result).toEqual(result);
    const all = stream.got.map((e) => e.type);
    expect(all.lastIndexOf("token")).toBeLessThan(all.indexOf("final"));
    expect(
      tokensOf(stream.got)
        .map((t) => t.text)
        .join(""),
    ).toBe(result.text);
    expect(validated).toContain(`/v1/validate/completion:${requestId}`);
    expect(stranger.frames.some((f) => f.type === "task")).toBe(false);
    // A listener that joins after the end gets the tokens, then the final event.
    const late = await events(requestId);
    await late.reading;
    expect(tokensOf(late.got).length).toBe(6);
    expect(finalOf(late.got)).toBeDefined();
    agent.close();
    stranger.close();
  }, 60_000);

  test("an agent lost after its tokens were streamed fails the request STREAM_INTERRUPTED: not restarted elsewhere, not charged", async () => {
    const agent = await agentPeer();
    const requestId = `lost-${Date.now()}`;
    const chargedBefore = await sessionCharged();
    await submitStreaming(requestId);
    const task = await agent.waitFor((f) => f.type === "task" && f.requestId === requestId);
    // Another agent is free: a plain retry would go there.
    const other = await agentPeer();
    const stream = await events(requestId);
    agent.send({ type: "tokens", taskId: task.taskId, requestId, deltas: deltas(0, ["Once", " upon"]) });
    await stream.until((all) => tokensOf(all).length === 2);
    agent.close();
    await stream.until((all) => finalOf(all) !== undefined, 15_000);
    const final = finalOf(stream.got);
    if (final?.type !== "final") throw new Error("no final event");
    expect(final.response.state).toBe("failed");
    expect(final.response.error?.code).toBe("STREAM_INTERRUPTED");
    expect(final.response.result).toBeUndefined();
    expect(final.response.receipt).toBeUndefined();
    await Bun.sleep(300);
    expect(other.frames.some((f) => f.type === "task" && f.requestId === requestId)).toBe(false);
    expect(await sessionCharged()).toBe(chargedBefore);
    expect(validated).not.toContain(`/v1/validate/completion:${requestId}`);
    other.close();
  }, 60_000);

  test("an agent lost before any token was streamed: the request is retried on another agent as usual", async () => {
    const first = await agentPeer();
    const requestId = `retry-${Date.now()}`;
    await submitStreaming(requestId);
    await first.waitFor((f) => f.type === "task" && f.requestId === requestId);
    const second = await agentPeer();
    first.close();
    const task = await second.waitFor((f) => f.type === "task" && f.requestId === requestId, 10_000);
    expect(task.taskId).toBe(`${requestId}:2`);
    second.close();
  }, 60_000);

  test("an ended request stays readable for REQUEST_RETENTION_MS, then its record is deleted and the id reads as unknown", async () => {
    const requestId = `kept-${Date.now()}`;
    const chargedBefore = await sessionCharged();
    await submitStreaming(requestId);
    const stub = await requestStub(requestId);
    const cancelled = await stub.cancel();
    const endedAt = Date.now();
    expect(cancelled?.state).toBe("cancelled");
    expect((await stub.status())?.state).toBe("cancelled");
    const signature = await client.signTypedData(requestAccessData(domain(), requestId, gatewayAddress));
    const read = () =>
      fetch(`${gw.url}/v1/inference/${requestId}`, { headers: { [REQUEST_ACCESS_HEADER]: signature } });
    expect((await read()).status).toBe(200);
    let gone: InferenceResponse | null | undefined;
    while (Date.now() - endedAt < RETENTION_MS + 15_000) {
      gone = await stub.status();
      if (gone === null) break;
      await Bun.sleep(250);
    }
    expect(gone).toBeNull();
    expect(Date.now() - endedAt).toBeGreaterThanOrEqual(RETENTION_MS - 500);
    const after = await read();
    expect(after.status).toBe(404);
    expect(await sessionCharged()).toBe(chargedBefore);
  }, 60_000);

  test("a validator that missed the preprocess ask and refused the completion as not pre-attested is caught up after the quorum: pre-attested, then attests", async () => {
    const agent = await agentPeer();
    const requestId = `catchup-${Date.now()}`;
    await submitStreaming(requestId);
    const task = await agent.waitFor((f) => f.type === "task" && f.requestId === requestId);
    const stream = await events(requestId);
    const result: GenerateResult = {
      kind: "generate",
      text: "Once.",
      tokens: [100],
      prompt_tokens: 4,
      completion_tokens: 1,
      finish_reason: "length",
    };
    agent.send({ type: "tokens", taskId: task.taskId, requestId, deltas: deltas(0, ["Once."]) });
    agent.send(await agent.resultFor(task, result));
    await stream.until((all) => finalOf(all) !== undefined, 15_000);
    const final = finalOf(stream.got);
    if (final?.type !== "final") throw new Error("no final event");
    expect(final.response.state).toBe("returned");
    // The quorum (the two others) answered the client; the third is caught up afterwards.
    const deadline = Date.now() + 10_000;
    while (!thirdCalls.includes(`/v1/validate/completion:${requestId}:200`) && Date.now() < deadline)
      await Bun.sleep(100);
    expect(thirdCalls.filter((c) => c.includes(requestId))).toEqual([
      `/v1/validate/preprocess:${requestId}:503`,
      `/v1/validate/completion:${requestId}:400`,
      `/v1/validate/preprocess:${requestId}:200`,
      `/v1/validate/completion:${requestId}:200`,
    ]);
    agent.close();
  }, 60_000);
});

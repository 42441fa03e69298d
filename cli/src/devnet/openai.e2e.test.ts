import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNcnReadClient, readSession } from "@ncn/contracts";
import { createNcnClient } from "@ncn/contracts/actions";
import {
  Address,
  type InferenceResponse,
  ncnDomain,
  parseBearerApiKey,
  readRequestEvents,
  requestMaximum,
  TaskInput,
  TaskPricing,
  taskCharge,
  typedData,
} from "@ncn/protocol";
import { NCN_GPT } from "@ncn/runtime/builtin-models";
import { characterErrorRate } from "@ncn/runtime/testing/render-text";
import { NCN_WHISPER_CER_BOUND, spokenSentences } from "@ncn/runtime/testing/spoken-audio";
import { openPaymentSession } from "@ncn/sdk";
import OpenAI from "openai";
import * as v from "valibot";
import { privateKeyToAccount } from "viem/accounts";
import { nameChainOf } from "../devnet-file.ts";
import { createApiKey } from "../keys/create-api-key.ts";
import { claimRecordNames, publishSubnet, waitForCatalog } from "../records.ts";
import { DEVNET_PRICES, DEVNET_TOKEN_PRICES, type Devnet, startDevnet } from "./devnet.ts";
import { listedTestPeer } from "./listed-test-peer.ts";

// The OpenAI-compatible API, called with the official `openai` client against a real
// devnet (anvil, validators, the gateway in workerd, agents running ncn-gpt and GloVe).

let devnet: Devnet;
let home: string;
let openai: OpenAI;
let selfSigned: OpenAI;
/** The session the devnet's API key pays from. */
let keySession: `0x${string}`;
/** Signs the next cumulative voucher of this test's own session. */
let pay: (price: bigint) => Promise<Record<string, string>>;
let sessionId: `0x${string}`;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-openai-e2e-"));
  devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
  const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
  const q = await devnet.client.quote("chat", "ncn-gpt");
  ({ sessionId } = await openPaymentSession(
    {
      rpcUrl: devnet.file.chain.rpcUrl,
      chainId: devnet.file.chain.chainId,
      contracts: devnet.chain.contracts,
    },
    account,
    { gateway: q.gateway as `0x${string}`, amount: 10n ** 18n, expiresInSeconds: 3600 },
  ));
  await devnet.client.registerSession(sessionId);
  const domain = ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
  let cumulative = 0n;
  pay = async (price) => {
    cumulative += price;
    const signature = await account.signTypedData(
      typedData(domain, "Voucher", { sessionId, cumulativeAmount: cumulative }),
    );
    return { mode: "session", sessionId, cumulativeAmount: cumulative.toString(), signature };
  };
  openai = new OpenAI({
    baseURL: `${devnet.file.gateway.url}/v1`,
    apiKey: devnet.file.client.apiKey ?? "",
    maxRetries: 0,
  });
  // A client that signs its own vouchers sends no key.
  selfSigned = new OpenAI({
    baseURL: `${devnet.file.gateway.url}/v1`,
    apiKey: "unused",
    defaultHeaders: { authorization: null },
    maxRetries: 0,
  });
  keySession = parseBearerApiKey(`Bearer ${devnet.file.client.apiKey}`).sessionId;
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(home, { recursive: true, force: true });
}, 60_000);

/** What the gateway has charged a session so far. */
async function chargedOf(session: `0x${string}`): Promise<bigint> {
  return BigInt((await devnet.client.registerSession(session)).charged);
}

/** A fresh API key on a new session of the devnet's client holding `deposit`. */
async function keyWithDeposit(deposit: bigint): Promise<string> {
  const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
  const q = await devnet.client.quote("chat", "ncn-gpt");
  const created = await createApiKey(
    {
      client: createNcnClient({
        rpcUrl: devnet.file.chain.rpcUrl,
        chainId: devnet.file.chain.chainId,
        account,
      }),
      contracts: devnet.chain.contracts,
      gatewayUrl: devnet.file.gateway.url,
      gateway: v.parse(Address, q.gateway),
    },
    { deposit, expiresInSeconds: 3600n },
  );
  return created.apiKey;
}

/** The devnet's prices of ncn-gpt in the chat subnet, as its record says them. */
const CHAT_PRICE = {
  price: DEVNET_PRICES.chat.toString(),
  pricing: {
    promptToken: DEVNET_TOKEN_PRICES.chat.promptToken.toString(),
    completionToken: DEVNET_TOKEN_PRICES.chat.completionToken.toString(),
  },
};

/** What a chat completion costs at the devnet's prices: base + prompt and completion tokens. */
function chatCharge(usage: { prompt_tokens: number; completion_tokens: number } | undefined): bigint {
  return (
    DEVNET_PRICES.chat +
    BigInt(usage?.prompt_tokens ?? 0) * DEVNET_TOKEN_PRICES.chat.promptToken +
    BigInt(usage?.completion_tokens ?? 0) * DEVNET_TOKEN_PRICES.chat.completionToken
  );
}

/** The most a chat request may cost, as the gateway bounds it before it runs. */
function chatMaximum(messages: { role: "user"; content: string }[], maxTokens: number): bigint {
  const input = v.parse(TaskInput, {
    kind: "generate",
    model: "ncn-gpt",
    prompt: messages,
    sampling: { max_tokens: maxTokens },
  });
  return requestMaximum(CHAT_PRICE, input);
}

/** A session's settled amount on chain once it reaches `want` (or what it is after 45 s). */
async function settledOnChain(session: `0x${string}`, want: bigint): Promise<bigint> {
  const read = createNcnReadClient({ rpcUrl: devnet.file.chain.rpcUrl, chainId: devnet.file.chain.chainId });
  const until = Date.now() + 45_000;
  let settled = 0n;
  while (Date.now() < until) {
    settled = (await readSession(read, devnet.chain.contracts, session)).settled;
    if (settled >= want) return settled;
    await new Promise((r) => setTimeout(r, 250));
  }
  return settled;
}

/** What a call to the API threw (the test fails if it did not throw). */
async function failure(call: PromiseLike<unknown>): Promise<unknown> {
  try {
    await call;
  } catch (e) {
    return e;
  }
  throw new Error("the call succeeded");
}

/** The network's own view of a request, which every OpenAI-shaped answer carries under `ncn`. */
function ncnOf(answer: object): InferenceResponse {
  return (answer as { ncn: InferenceResponse }).ncn;
}

describe("OpenAI-compatible API through the official client", () => {
  test("models.list shows the chat and embedding models; retrieve finds one, or 404", async () => {
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toContain("ncn-gpt");
    expect(ids).toContain("ncn-glove-100d");
    expect((await openai.models.retrieve("ncn-gpt")).id).toBe("ncn-gpt");
    expect(await failure(openai.models.retrieve("no-such-model"))).toMatchObject({ status: 404 });
  }, 30_000);

  test("a chat completion paid by the API key: English text, usage in tokens, its usage charged once, a receipt the SDK verifies", async () => {
    const before = await chargedOf(keySession);
    const completion = await openai.chat.completions.create({
      model: "ncn-gpt",
      messages: [{ role: "user", content: "Tell me of the land of Egypt." }],
      max_tokens: 24,
      temperature: 0.7,
      seed: 5,
    });
    expect(completion.object).toBe("chat.completion");
    const text = completion.choices[0]?.message.content ?? "";
    expect(text).toMatch(/\b(the|and|of|to|in|he|unto)\b/i);
    expect(["stop", "length"]).toContain(completion.choices[0]?.finish_reason ?? "none");
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
    const ncn = ncnOf(completion);
    const verified = await devnet.client.verifyReceipt(ncn);
    expect(verified.ok).toBe(true);
    expect(verified.completionAttestors.length).toBeGreaterThanOrEqual(2);
    if (ncn.result?.kind === "generate") expect(ncn.result.text).toBe(text);
    expect(await chargedOf(keySession)).toBe(before + chatCharge(completion.usage));
  }, 60_000);

  test("token pricing: a chat completion is charged base + its usage x the per-token prices, less than the maximum it was authorised for, and that settles on chain", async () => {
    const key = await keyWithDeposit(10n ** 17n);
    const session = parseBearerApiKey(`Bearer ${key}`).sessionId;
    const client = new OpenAI({ baseURL: `${devnet.file.gateway.url}/v1`, apiKey: key, maxRetries: 0 });
    const messages = [{ role: "user" as const, content: "Tell me of the land of Egypt." }];
    const completion = await client.chat.completions.create({
      model: "ncn-gpt",
      messages,
      max_tokens: 24,
      temperature: 0.7,
      seed: 5,
    });
    const charge = chatCharge(completion.usage);
    const maximum = chatMaximum(messages, 24);
    const ncn = ncnOf(completion);
    // The response, the receipt and the session all say the charge of the real usage.
    expect(BigInt(ncn.price)).toBe(charge);
    expect(ncn.maxPrice).toBe(maximum.toString());
    expect(ncn.receipt?.receipt.price).toBe(charge.toString());
    expect(charge).toBeLessThan(maximum);
    expect(await chargedOf(session)).toBe(charge);
    // The key acknowledged exactly that total, so settlement reaches it on chain.
    expect(await settledOnChain(session, charge)).toBe(charge);
    process.stderr.write(
      `token pricing: ${completion.usage?.prompt_tokens} prompt + ${completion.usage?.completion_tokens} completion tokens charged ${charge}, authorised ${maximum} (${Number((charge * 1000n) / maximum) / 10}%), settled ${charge}\n`,
    );
    // The native event stream, paid by the key, is charged its usage too and settles.
    const res = await fetch(`${devnet.file.gateway.url}/v1/generate`, {
      method: "POST",
      headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
      body: JSON.stringify({
        subnet: "chat",
        model: "ncn-gpt",
        prompt: "And it came to pass",
        sampling: { max_tokens: 12, seed: 3 },
        stream: true,
      }),
    });
    let final: InferenceResponse | undefined;
    for await (const e of readRequestEvents(res.body ?? new ReadableStream())) {
      if (e.type === "final") final = e.response;
    }
    if (final?.result?.kind !== "generate") throw new Error("the stream ends with the generated text");
    const second = chatCharge(final.result);
    expect(BigInt(final.price)).toBe(second);
    expect(await chargedOf(session)).toBe(charge + second);
    expect(await settledOnChain(session, charge + second)).toBe(charge + second);
    process.stderr.write(
      `token pricing, native stream: ${final.result.prompt_tokens} + ${final.result.completion_tokens} tokens charged ${second}, authorised ${final.maxPrice}; session settled ${charge + second}\n`,
    );
    // /v1/models and /v1/quote show the per-token prices.
    const quote = await devnet.client.quote("chat", "ncn-gpt");
    expect(quote.pricing).toEqual(CHAT_PRICE.pricing);
    expect(quote.price).toBe(CHAT_PRICE.price);
    const listed = v.parse(
      v.object({
        data: v.array(
          v.object({
            id: v.string(),
            ncn: v.object({
              subnets: v.array(
                v.object({ id: v.string(), price: v.string(), pricing: v.optional(v.unknown()) }),
              ),
            }),
          }),
        ),
      }),
      await (await fetch(`${devnet.file.gateway.url}/v1/models`)).json(),
    );
    const gpt = listed.data.find((m) => m.id === "ncn-gpt")?.ncn.subnets.find((s) => s.id === "chat");
    expect(gpt).toEqual({ id: "chat", ...CHAT_PRICE });
  }, 90_000);

  test("token pricing: an agent whose receipt claims more than its usage, or whose result inflates prompt_tokens, is refused and nothing is charged", async () => {
    // A subnet served only by a lying peer (its base fee above the chat subnet's, so that
    // requests naming no subnet never go to it).
    const owner = privateKeyToAccount(devnet.file.subnetOwner?.privateKey as `0x${string}`);
    const urls = devnet.file.registries.map((r) => r.url);
    await claimRecordNames(nameChainOf(devnet.file), owner, [{ kind: "subnet", name: "chat-liar" }]);
    await publishSubnet(urls[0] as string, owner, {
      id: "chat-liar",
      name: "chat-liar",
      models: [{ id: NCN_GPT.id, price: (DEVNET_PRICES.chat + 1n).toString(), pricing: CHAT_PRICE.pricing }],
    });
    await waitForCatalog(urls, ["chat-liar"], [NCN_GPT.id]);
    await new Promise((r) => setTimeout(r, 5500)); // the gateway's catalog cache
    const { peer, registrar } = await listedTestPeer(devnet.file.gateway.url, urls, "chat-liar");
    let lie: "price" | "prompt_tokens" = "price";
    const tasks: Record<string, unknown>[] = [];
    peer.onTask = async (task) => {
      tasks.push(task);
      // "And" as the only token; the prompt "has" 90 tokens (ncn-gpt reads far fewer).
      const result = {
        kind: "generate" as const,
        text: "And",
        tokens: [40],
        prompt_tokens: lie === "prompt_tokens" ? 90 : 12,
        completion_tokens: 1,
        finish_reason: "length" as const,
      };
      const terms = { price: String(task.price), pricing: v.parse(TaskPricing, task.pricing) };
      // The maximum instead of the usage's charge; or a price true to the inflated usage.
      const price = lie === "price" ? String(task.price) : taskCharge(terms, result).toString();
      return await peer.resultFor(task, result, peer.account, price);
    };
    const key = await keyWithDeposit(10n ** 17n);
    const session = parseBearerApiKey(`Bearer ${key}`).sessionId;
    const client = new OpenAI({ baseURL: `${devnet.file.gateway.url}/v1`, apiKey: key, maxRetries: 0 });
    const ask = (seed: number) => {
      // The network's own body field names the subnet.
      const params: OpenAI.ChatCompletionCreateParamsNonStreaming & { subnet: string } = {
        model: "ncn-gpt",
        messages: [{ role: "user", content: "Tell me of the land of Egypt." }],
        max_tokens: 8,
        seed,
        subnet: "chat-liar",
      };
      return client.chat.completions.create(params);
    };
    try {
      // The gateway recomputes the charge from the result: a receipt priced at the maximum is refused.
      const overpriced = await failure(ask(1));
      expect(String((overpriced as { message?: string }).message)).toContain("price");
      expect(tasks[0]?.pricing).toEqual({
        base: (DEVNET_PRICES.chat + 1n).toString(),
        ...CHAT_PRICE.pricing,
      });
      expect(await chargedOf(session)).toBe(0n);
      // Validators count the prompt's tokens with the model's tokenizer: an inflated count is refused.
      lie = "prompt_tokens";
      const inflated = await failure(ask(2));
      expect(inflated).toMatchObject({ status: 422 });
      expect(String((inflated as { message?: string }).message)).toMatch(/prompt.*90|90.*prompt/);
      expect(await chargedOf(session)).toBe(0n);
    } finally {
      registrar.stop();
      peer.close();
    }
  }, 120_000);

  test("a streamed chat completion: chunks arrive while the agent still generates, then [DONE]; they join to the validated text", async () => {
    const t0 = Date.now();
    const stream = await openai.chat.completions.create({
      model: "ncn-gpt",
      messages: [{ role: "user", content: "Sing of the sea and the ships." }],
      max_tokens: 160,
      temperature: 0.8,
      seed: 9,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let last: object | undefined;
    let firstAt: number | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      const delta = chunk.choices[0]?.delta.content ?? "";
      if (delta.length > 0) firstAt ??= Date.now();
      text += delta;
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
      if ("ncn" in chunk) last = chunk;
    }
    const finalAt = Date.now();
    expect(text.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(finish ?? "none");
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    const ncn = ncnOf(last ?? {});
    if (ncn.result?.kind !== "generate" || !ncn.receipt)
      throw new Error("the last chunk carries the validated result");
    expect(ncn.result.text).toBe(text);
    // The receipt says when the agent finished generating (same machine, same clock).
    const finishedAt = ncn.receipt.receipt.finishedAt;
    expect(firstAt ?? finalAt).toBeLessThan(finishedAt);
    process.stderr.write(
      `openai stream: ${ncn.result.completion_tokens} tokens, first chunk after ${(firstAt ?? finalAt) - t0} ms, agent done after ${finishedAt - t0} ms, [DONE] after ${finalAt - t0} ms\n`,
    );
    expect((await devnet.client.verifyReceipt(ncn)).ok).toBe(true);
  }, 60_000);

  test("a text completion paid with a voucher the client signed itself (the body's payment field)", async () => {
    const params: OpenAI.CompletionCreateParamsNonStreaming & { payment: unknown } = {
      model: "ncn-gpt",
      prompt: "And the LORD spake unto Moses, saying,",
      max_tokens: 16,
      temperature: 0,
      // A voucher for the most it may cost: the prompt's bound and max_tokens at the token prices.
      payment: await pay(
        requestMaximum(
          CHAT_PRICE,
          v.parse(TaskInput, {
            kind: "generate",
            model: "ncn-gpt",
            prompt: "And the LORD spake unto Moses, saying,",
            sampling: { max_tokens: 16 },
          }),
        ),
      ),
    };
    const completion = await selfSigned.completions.create(params);
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    expect((await devnet.client.verifyReceipt(ncnOf(completion))).ok).toBe(true);
  }, 60_000);

  test("embeddings, as floats and as base64: related texts are closer; usage in tokens", async () => {
    const input = ["the kitten sleeps on the sofa", "a cat naps on the couch", "interest rates rose sharply"];
    const r = await openai.embeddings.create({ model: "ncn-glove-100d", input, encoding_format: "float" });
    const [kitten, cat, rates] = r.data.map((d) => d.embedding);
    if (!kitten || !cat || !rates) throw new Error("three vectors expected");
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
    expect(kitten.length).toBe(100);
    expect(dot(kitten, cat)).toBeGreaterThan(dot(kitten, rates) + 0.1);
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    expect((await devnet.client.verifyReceipt(ncnOf(r))).ok).toBe(true);
    // The client's default asks for base64 and decodes it: the same vectors.
    const again = await openai.embeddings.create({ model: "ncn-glove-100d", input: input[0] as string });
    const first = again.data[0]?.embedding ?? [];
    for (const [i, x] of kitten.entries()) expect(first[i]).toBeCloseTo(x, 6);
  }, 60_000);

  test("a transcription of a WAV file, as json and as text: the sentence espeak-ng read, priced per request", async () => {
    const [sentence] = spokenSentences();
    if (!sentence) throw new Error("no held-out spoken sentence");
    const before = await chargedOf(keySession);
    const file = new File([new Uint8Array(sentence.wav)], "speech.wav", { type: "audio/wav" });
    const json = await openai.audio.transcriptions.create({ file, model: "ncn-whisper" });
    expect(characterErrorRate(sentence.target, json.text)).toBeLessThan(NCN_WHISPER_CER_BOUND);
    expect(ncnOf(json).result).toMatchObject({ kind: "transcribe", text: json.text });
    expect(await chargedOf(keySession)).toBe(before + DEVNET_PRICES.speech);
    const text = await openai.audio.transcriptions.create({
      file,
      model: "ncn-whisper",
      response_format: "text",
    });
    expect(String(text).trim()).toBe(json.text);
    expect(await failure(openai.audio.transcriptions.create({ file, model: "ncn-gpt" }))).toMatchObject({
      status: 400,
    });
  }, 120_000);

  test("a bad key, an exhausted session, an unknown model, an oversized or malformed body: the OpenAI envelope with its status, nothing charged", async () => {
    const before = await chargedOf(keySession);
    const hi = [{ role: "user" as const, content: "hi" }];
    // Keys: malformed, well-formed but of no session.
    const bad = new OpenAI({
      baseURL: `${devnet.file.gateway.url}/v1`,
      apiKey: "ncn-not-a-key",
      maxRetries: 0,
    });
    expect(await failure(bad.chat.completions.create({ model: "ncn-gpt", messages: hi }))).toMatchObject({
      status: 401,
      type: "authentication_error",
    });
    // A session whose deposit covers one request's maximum: the second gets 402.
    const small = new OpenAI({
      baseURL: `${devnet.file.gateway.url}/v1`,
      apiKey: await keyWithDeposit(chatMaximum(hi, 4)),
      maxRetries: 0,
    });
    await small.chat.completions.create({ model: "ncn-gpt", messages: hi, max_tokens: 4 });
    expect(
      await failure(small.chat.completions.create({ model: "ncn-gpt", messages: hi, max_tokens: 4 })),
    ).toMatchObject({
      status: 402,
      type: "insufficient_quota",
    });
    // Unknown model: 404; a chat request to an embedding model: 400; both name model.
    expect(
      await failure(openai.chat.completions.create({ model: "no-such-model", messages: hi })),
    ).toMatchObject({
      status: 404,
      type: "invalid_request_error",
      code: "MODEL_NOT_FOUND",
      param: "model",
    });
    expect(
      await failure(openai.chat.completions.create({ model: "ncn-glove-100d", messages: hi })),
    ).toMatchObject({
      status: 400,
      param: "model",
    });
    // Malformed bodies: 400 naming the field.
    expect(await failure(openai.chat.completions.create({ model: "ncn-gpt", messages: [] }))).toMatchObject({
      status: 400,
      param: "messages",
    });
    expect(
      await failure(openai.chat.completions.create({ model: "ncn-gpt", messages: hi, n: 2 })),
    ).toMatchObject({
      status: 400,
      param: "n",
    });
    expect(
      await failure(
        openai.chat.completions.create({ model: "ncn-gpt", messages: hi, stop: ["a", "b", "c", "d", "e"] }),
      ),
    ).toMatchObject({ status: 400, param: "stop" });
    expect(
      await failure(openai.embeddings.create({ model: "ncn-glove-100d", input: "x".repeat(100_000) })),
    ).toMatchObject({ status: 400, param: "input" });
    // A body past the gateway's limit: 413.
    expect(
      await failure(
        openai.embeddings.create({ model: "ncn-glove-100d", input: "x".repeat(17 * 1024 * 1024) }),
      ),
    ).toMatchObject({ status: 413 });
    expect(await chargedOf(keySession)).toBe(before);
  }, 90_000);

  test("a streamed request whose agents die mid-stream ends with an error event and is not charged", async () => {
    const before = await chargedOf(keySession);
    const stream = await openai.chat.completions.create({
      model: "ncn-gpt",
      messages: [{ role: "user", content: "Tell me a long story of kings." }],
      max_tokens: 2000,
      temperature: 1,
      seed: 3,
      stream: true,
    });
    let chunks = 0;
    const thrown = await failure(
      (async () => {
        for await (const chunk of stream) {
          if ((chunk.choices[0]?.delta.content ?? "").length > 0 && ++chunks === 3) {
            await Promise.all(devnet.agents.map((_, i) => devnet.killAgent(i)));
          }
        }
      })(),
    );
    expect(chunks).toBeGreaterThanOrEqual(3);
    expect(thrown).toMatchObject({ code: "STREAM_INTERRUPTED", type: "server_error" });
    expect(await chargedOf(keySession)).toBe(before);
    await Promise.all(devnet.agents.map((_, i) => devnet.startAgent(i)));
  }, 90_000);
});

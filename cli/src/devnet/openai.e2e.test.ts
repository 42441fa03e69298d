import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type InferenceResponse, ncnDomain, typedData } from "@ncn/protocol";
import { openPaymentSession } from "@ncn/sdk";
import OpenAI from "openai";
import { privateKeyToAccount } from "viem/accounts";
import { DEVNET_PRICES, type Devnet, startDevnet } from "./devnet.ts";

// The OpenAI-compatible API, called with the official `openai` client against a real
// devnet (anvil, validators, the gateway in workerd, agents running ncn-gpt and GloVe).

let devnet: Devnet;
let home: string;
let openai: OpenAI;
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
  openai = new OpenAI({ baseURL: `${devnet.file.gateway.url}/v1`, apiKey: "ncn-unused", maxRetries: 0 });
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(home, { recursive: true, force: true });
}, 60_000);

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
  test("models.list shows the chat and embedding models with their task; retrieve finds one", async () => {
    const ids: string[] = [];
    for await (const m of openai.models.list()) ids.push(m.id);
    expect(ids).toContain("ncn-gpt");
    expect(ids).toContain("ncn-glove-100d");
    expect((await openai.models.retrieve("ncn-gpt")).id).toBe("ncn-gpt");
    expect(await failure(openai.models.retrieve("no-such-model"))).toMatchObject({ status: 404 });
  }, 30_000);

  test("a chat completion: English text, usage in tokens, and a receipt the SDK verifies", async () => {
    const params: OpenAI.ChatCompletionCreateParamsNonStreaming & { payment: unknown } = {
      model: "ncn-gpt",
      messages: [{ role: "user", content: "Tell me of the land of Egypt." }],
      max_tokens: 24,
      temperature: 0.7,
      seed: 5,
      payment: await pay(DEVNET_PRICES.chat),
    };
    const completion = await openai.chat.completions.create(params);
    expect(completion.object).toBe("chat.completion");
    const text = completion.choices[0]?.message.content ?? "";
    expect(text).toMatch(/\b(the|and|of|to|in|he|unto)\b/i);
    expect(["stop", "length"]).toContain(completion.choices[0]?.finish_reason ?? "none");
    expect(completion.usage?.completion_tokens).toBeGreaterThan(0);
    expect(completion.usage?.total_tokens).toBe(
      (completion.usage?.prompt_tokens ?? 0) + (completion.usage?.completion_tokens ?? 0),
    );
    const ncn = ncnOf(completion);
    expect((await devnet.client.verifyReceipt(ncn)).ok).toBe(true);
    if (ncn.result?.kind === "generate") expect(ncn.result.text).toBe(text);
  }, 60_000);

  test("a streamed chat completion: chunks, then [DONE]; the text joins to the validated result", async () => {
    const params: OpenAI.ChatCompletionCreateParamsStreaming & { payment: unknown } = {
      model: "ncn-gpt",
      messages: [{ role: "user", content: "Sing of the sea." }],
      max_tokens: 32,
      seed: 9,
      stream: true,
      stream_options: { include_usage: true },
      payment: await pay(DEVNET_PRICES.chat),
    };
    const stream = await openai.chat.completions.create(params);
    let text = "";
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | undefined | null;
    let last: object | undefined;
    for await (const chunk of stream) {
      expect(chunk.object).toBe("chat.completion.chunk");
      text += chunk.choices[0]?.delta.content ?? "";
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
      if ("ncn" in chunk) last = chunk;
    }
    expect(text.length).toBeGreaterThan(0);
    expect(["stop", "length"]).toContain(finish ?? "none");
    expect(usage?.completion_tokens).toBeGreaterThan(0);
    const ncn = ncnOf(last ?? {});
    if (ncn.result?.kind !== "generate") throw new Error("the last chunk carries the validated result");
    expect(ncn.result.text).toBe(text);
    expect((await devnet.client.verifyReceipt(ncn)).ok).toBe(true);
  }, 60_000);

  test("a text completion continues the prompt", async () => {
    const params: OpenAI.CompletionCreateParamsNonStreaming & { payment: unknown } = {
      model: "ncn-gpt",
      prompt: "And the LORD spake unto Moses, saying,",
      max_tokens: 16,
      temperature: 0,
      payment: await pay(DEVNET_PRICES.chat),
    };
    const completion = await openai.completions.create(params);
    expect(completion.object).toBe("text_completion");
    expect(completion.choices[0]?.text.length).toBeGreaterThan(0);
    expect((await devnet.client.verifyReceipt(ncnOf(completion))).ok).toBe(true);
  }, 60_000);

  test("embeddings, as floats and as base64: related texts are closer; usage in tokens", async () => {
    const input = ["the kitten sleeps on the sofa", "a cat naps on the couch", "interest rates rose sharply"];
    const params: OpenAI.EmbeddingCreateParams & { payment: unknown } = {
      model: "ncn-glove-100d",
      input,
      encoding_format: "float",
      payment: await pay(DEVNET_PRICES.embed),
    };
    const r = await openai.embeddings.create(params);
    const [kitten, cat, rates] = r.data.map((d) => d.embedding);
    if (!kitten || !cat || !rates) throw new Error("three vectors expected");
    const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * (b[i] ?? 0), 0);
    expect(kitten.length).toBe(100);
    expect(dot(kitten, cat)).toBeGreaterThan(dot(kitten, rates) + 0.1);
    expect(r.usage.prompt_tokens).toBeGreaterThan(0);
    expect((await devnet.client.verifyReceipt(ncnOf(r))).ok).toBe(true);
    // The client's default asks for base64 and decodes it: the same vectors.
    const again = await openai.embeddings.create({
      model: "ncn-glove-100d",
      input: input[0] as string,
      payment: await pay(DEVNET_PRICES.embed),
    } as OpenAI.EmbeddingCreateParams);
    const first = again.data[0]?.embedding ?? [];
    for (const [i, x] of kitten.entries()) expect(first[i]).toBeCloseTo(x, 6);
  }, 60_000);

  test("errors come in the OpenAI envelope with their status, and charge nothing", async () => {
    const charged = async () => (await devnet.client.registerSession(sessionId)).charged;
    const before = await charged();
    // A paid request the gateway refuses before it runs: nothing charged.
    const paid = { payment: await pay(DEVNET_PRICES.chat) };
    expect(
      await failure(
        openai.chat.completions.create({
          model: "ncn-gpt",
          messages: [{ role: "user", content: "hi" }],
          stop: ["a", "b", "c", "d", "e"],
          ...paid,
        } as OpenAI.ChatCompletionCreateParamsNonStreaming),
      ),
    ).toMatchObject({ status: 400, param: "stop" });
    // Unknown model: 404.
    expect(
      await failure(
        openai.chat.completions.create({
          model: "no-such-model",
          messages: [{ role: "user", content: "hi" }],
        }),
      ),
    ).toMatchObject({
      status: 404,
      type: "invalid_request_error",
      code: "MODEL_NOT_FOUND",
      param: "model",
    });
    // A chat request to an embedding model: 400 naming model.
    expect(
      await failure(
        openai.chat.completions.create({
          model: "ncn-glove-100d",
          messages: [{ role: "user", content: "hi" }],
        }),
      ),
    ).toMatchObject({ status: 400, param: "model" });
    // Malformed bodies: 400 naming the field.
    expect(await failure(openai.chat.completions.create({ model: "ncn-gpt", messages: [] }))).toMatchObject({
      status: 400,
      type: "invalid_request_error",
    });
    expect(
      await failure(
        openai.chat.completions.create({
          model: "ncn-gpt",
          messages: [{ role: "user", content: "hi" }],
          n: 2,
        }),
      ),
    ).toMatchObject({ status: 400 });
    // No payment: 402 with the quota type.
    expect(
      await failure(
        openai.chat.completions.create({ model: "ncn-gpt", messages: [{ role: "user", content: "hi" }] }),
      ),
    ).toMatchObject({ status: 402, type: "insufficient_quota" });
    // A text past the model's limits: 400 naming input; a body past the gateway's: 413.
    expect(
      await failure(openai.embeddings.create({ model: "ncn-glove-100d", input: "x".repeat(100_000) })),
    ).toMatchObject({ status: 400, param: "input" });
    expect(
      await failure(
        openai.embeddings.create({ model: "ncn-glove-100d", input: "x".repeat(17 * 1024 * 1024) }),
      ),
    ).toMatchObject({ status: 413 });
    expect(await charged()).toBe(before);
  }, 60_000);
});

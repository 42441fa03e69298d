import {
  BaseError,
  ChatCompletionRequest,
  type ChatMessage,
  decodeEmbedding,
  EMBED_LIMITS,
  EmbeddingRequest,
  EmbedTexts,
  GENERATE_LIMITS,
  type GeneratePrompt,
  type InferenceResponse,
  type ModelTask,
  type OpenAiChatMessage,
  type OpenAiUsage,
  type Payment,
  readBody,
  readRequestEvents,
  readTranscriptionUpload,
  type SamplingParams,
  type TaskInput,
  TextCompletionRequest,
  toBaseError,
} from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { fromCatalog, type Offer, offerOf } from "../catalog.ts";
import { configOf } from "../env.ts";
import { type AppContext, type AppEnv, JSON_BODY } from "../http.ts";
import { publicError } from "../public-error.ts";
import {
  failureOf,
  type RequestView,
  requestEvents,
  type Submission,
  type SubmitOptions,
  settledRequest,
  startRequest,
} from "./inference.ts";

/**
 * The OpenAI-compatible API: `POST /v1/chat/completions` (with `stream`), `POST
 * /v1/completions`, `POST /v1/embeddings` and `POST /v1/audio/transcriptions`, over the same paid, validated and receipted
 * requests as the network's own routes. Errors are the shared envelope (`{ error: {
 * message, type, param, code } }`, see `errorBody`). Every response carries the network's
 * own view of the request under `ncn` (request id, price, receipt, attestations, the
 * result), so a client that wants to can verify it with the SDK's `verifyReceipt`.
 */
export const openAiRoutes = new Hono<AppEnv>();

/** `max_tokens` when a request names none (the API's own default, "as many as fit", could cost a whole context). */
export const DEFAULT_MAX_TOKENS = 256;

openAiRoutes.post("/v1/chat/completions", async (c) => {
  const body = await readBody(c.req.raw, ChatCompletionRequest, JSON_BODY);
  const offer = await offerFor(c, body.model, "generate", body.subnet);
  const input: TaskInput = {
    kind: "generate",
    model: offer.descriptor.id,
    prompt: chatPrompt(body.messages),
    sampling: samplingOf({ ...body, max_tokens: body.max_completion_tokens ?? body.max_tokens }),
  };
  const s = await startRequest(c, offer.subnet, input, {
    ...submitOptions(body),
    stream: body.stream === true,
  });
  const meta = { id: `chatcmpl-${s.requestId}`, model: offer.descriptor.id, created: nowSeconds() };
  if (body.stream) return streamCompletion(c, s, meta, "chat", body.stream_options?.include_usage === true);
  const done = await finished(c, s);
  const result = generated(done);
  return c.json({
    ...meta,
    object: "chat.completion",
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: result.text, refusal: null },
        logprobs: null,
        finish_reason: result.finish_reason,
      },
    ],
    usage: usageOf(result),
    system_fingerprint: null,
    ncn: done,
  });
});

openAiRoutes.post("/v1/completions", async (c) => {
  const body = await readBody(c.req.raw, TextCompletionRequest, JSON_BODY);
  const offer = await offerFor(c, body.model, "generate", body.subnet);
  const input: TaskInput = {
    kind: "generate",
    model: offer.descriptor.id,
    prompt: body.prompt,
    sampling: samplingOf(body),
  };
  const s = await startRequest(c, offer.subnet, input, {
    ...submitOptions(body),
    stream: body.stream === true,
  });
  const meta = { id: `cmpl-${s.requestId}`, model: offer.descriptor.id, created: nowSeconds() };
  if (body.stream) return streamCompletion(c, s, meta, "text", body.stream_options?.include_usage === true);
  const done = await finished(c, s);
  const result = generated(done);
  return c.json({
    ...meta,
    object: "text_completion",
    choices: [{ index: 0, text: result.text, logprobs: null, finish_reason: result.finish_reason }],
    usage: usageOf(result),
    system_fingerprint: null,
    ncn: done,
  });
});

openAiRoutes.post("/v1/embeddings", async (c) => {
  const body = await readBody(c.req.raw, EmbeddingRequest, JSON_BODY);
  if (body.dimensions !== undefined) {
    throw new BaseError("INVALID_INPUT", "dimensions is not supported: vectors have the model's own size", {
      details: { field: "dimensions" },
    });
  }
  const texts = typeof body.input === "string" ? [body.input] : body.input;
  const offer = await offerFor(c, body.model, "embed", body.subnet);
  const parsed = v.safeParse(EmbedTexts, texts);
  if (!parsed.success) {
    throw new BaseError("INVALID_INPUT", `input: ${parsed.issues[0]?.message ?? "invalid"}`, {
      details: { field: "input", limits: EMBED_LIMITS },
    });
  }
  const input: TaskInput = { kind: "embed", model: offer.descriptor.id, texts: parsed.output };
  const s = await startRequest(c, offer.subnet, input, submitOptions(body));
  const done = await finished(c, s);
  if (done.result?.kind !== "embed") throw new BaseError("INTERNAL", "the request returned no embeddings");
  const { dims, embeddings, promptTokens } = done.result;
  const base64 = body.encoding_format === "base64";
  return c.json({
    object: "list",
    data: embeddings.map((e, index) => ({
      object: "embedding",
      index,
      embedding: base64 ? e : Array.from(decodeEmbedding(e, dims)),
    })),
    model: offer.descriptor.id,
    usage: { prompt_tokens: promptTokens, total_tokens: promptTokens },
    ncn: done,
  });
});

openAiRoutes.post("/v1/audio/transcriptions", async (c) => {
  const { form, audio } = await readTranscriptionUpload(c.req.raw);
  const offer = await offerFor(c, form.model, "transcribe", form.subnet);
  const input: TaskInput = {
    kind: "transcribe",
    model: offer.descriptor.id,
    audio,
    ...(form.language === undefined ? {} : { language: form.language }),
    ...(form.prompt === undefined ? {} : { prompt: form.prompt }),
  };
  const s = await startRequest(c, offer.subnet, input, { timeoutMs: form.timeoutMs });
  const done = await finished(c, s);
  if (done.result?.kind !== "transcribe")
    throw new BaseError("INTERNAL", "the request returned no transcript");
  if (form.response_format === "text") return c.text(done.result.text);
  return c.json({
    text: done.result.text,
    usage: { type: "duration", seconds: Math.ceil(done.result.audio_seconds) },
    ncn: done,
  });
});

/** Where the catalog offers `model` for `task` (a typed 404 or 400 naming `model` otherwise). */
async function offerFor(c: AppContext, model: string, task: ModelTask, subnet?: string): Promise<Offer> {
  return await fromCatalog(
    configOf(c.env).REGISTRY_URLS,
    (catalog) => offerOf(catalog, model, task, subnet),
    (refresh) => c.executionCtx.waitUntil(refresh),
  );
}

/** The network's own fields of an OpenAI body: a voucher the client signed, its wait. */
function submitOptions(body: {
  payment?: Payment | undefined;
  timeoutMs?: number | undefined;
}): SubmitOptions {
  return { payment: body.payment, timeoutMs: body.timeoutMs };
}

/** Chat messages as the task's prompt: `developer` is `system`; text parts are joined. */
export function chatPrompt(messages: readonly OpenAiChatMessage[]): GeneratePrompt {
  const prompt: ChatMessage[] = messages.map((m) => ({
    role: m.role === "developer" ? "system" : m.role,
    content: typeof m.content === "string" ? m.content : m.content.map((p) => p.text).join(""),
  }));
  const chars = prompt.reduce((n, m) => n + m.content.length, 0);
  if (chars > GENERATE_LIMITS.chatChars) {
    throw new BaseError("INVALID_INPUT", `messages hold at most ${GENERATE_LIMITS.chatChars} characters`, {
      details: { field: "messages" },
    });
  }
  return prompt;
}

/** The task's sampling from the API's: defaults as the API has them, except a fresh seed when none is named. */
export function samplingOf(body: {
  max_tokens?: number | null | undefined;
  temperature?: number | null | undefined;
  top_p?: number | null | undefined;
  seed?: number | null | undefined;
  stop?: string | string[] | null | undefined;
}): SamplingParams {
  return {
    max_tokens: body.max_tokens ?? DEFAULT_MAX_TOKENS,
    temperature: body.temperature ?? 1,
    top_p: body.top_p ?? 1,
    // The receipt binds the seed, so a request without one still names the draws it got.
    seed: body.seed ?? crypto.getRandomValues(new Uint32Array(1))[0] ?? 0,
    stop: typeof body.stop === "string" ? [body.stop] : (body.stop ?? []),
  };
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

/** The request once returned, or the typed error it failed with. */
async function finished(c: AppContext, s: Submission): Promise<RequestView> {
  const done = await settledRequest(s);
  if (done.state === "failed") throw await failureOf(c, s, done);
  if (done.state !== "returned") {
    throw new BaseError("DEADLINE_EXCEEDED", `the request did not finish in ${s.timeoutMs} ms`, {
      details: { requestId: s.requestId, state: done.state },
    });
  }
  return done;
}

type Generated = Extract<NonNullable<RequestView["result"]>, { kind: "generate" }>;

function generated(done: RequestView): Generated {
  if (done.result?.kind !== "generate")
    throw new BaseError("INTERNAL", "the request returned no generated text");
  return done.result;
}

function usageOf(r: Generated): OpenAiUsage {
  return {
    prompt_tokens: r.prompt_tokens,
    completion_tokens: r.completion_tokens,
    total_tokens: r.prompt_tokens + r.completion_tokens,
  };
}

interface ChunkMeta {
  id: string;
  model: string;
  created: number;
}

/**
 * A completion as server-sent events: `data: <chunk>` lines and `data: [DONE]`, as the API
 * streams them. Tokens go out as the agent produces them (before validation: the last
 * chunk carries the validated result under `ncn`, and only a validated result is
 * charged); a request that fails after the stream began (its agent lost mid-stream, say:
 * `STREAM_INTERRUPTED`) ends with `data: {"error": ...}` (the envelope), uncharged.
 */
function streamCompletion(
  c: AppContext,
  s: Submission,
  meta: ChunkMeta,
  shape: "chat" | "text",
  includeUsage: boolean,
): Response {
  const enc = new TextEncoder();
  const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
  const writer = writable.getWriter();
  const send = (data: unknown) => writer.write(enc.encode(`data: ${JSON.stringify(data)}\n\n`));
  const chunk = (delta: { role?: "assistant"; content?: string } | string, finish: string | null) =>
    shape === "chat"
      ? {
          ...meta,
          object: "chat.completion.chunk",
          system_fingerprint: null,
          choices: [
            {
              index: 0,
              delta: typeof delta === "string" ? { content: delta } : delta,
              logprobs: null,
              finish_reason: finish,
            },
          ],
        }
      : {
          ...meta,
          object: "text_completion",
          choices: [
            { index: 0, text: typeof delta === "string" ? delta : "", logprobs: null, finish_reason: finish },
          ],
        };
  const run = async () => {
    try {
      if (shape === "chat") await send(chunk({ role: "assistant", content: "" }, null));
      const events = (await requestEvents(c, s)).body;
      if (!events) throw new BaseError("INTERNAL", "the request has no event stream");
      let done: InferenceResponse | undefined;
      for await (const e of readRequestEvents(events)) {
        if (e.type === "token" && e.event.text.length > 0) await send(chunk(e.event.text, null));
        else if (e.type === "final") done = e.response;
      }
      if (!done)
        throw new BaseError("UNAVAILABLE", "the request's event stream ended early", {
          details: { requestId: s.requestId },
        });
      if (done.state === "failed") throw await failureOf(c, s, done);
      if (done.result?.kind !== "generate")
        throw new BaseError("INTERNAL", "the request returned no generated text");
      const result = done.result;
      await s.acknowledge?.().catch(() => undefined);
      await send({ ...chunk(shape === "chat" ? {} : "", result.finish_reason), ncn: done });
      if (includeUsage)
        await send({ ...meta, object: chunk("", null).object, choices: [], usage: usageOf(result) });
      await writer.write(enc.encode("data: [DONE]\n\n"));
    } catch (e) {
      const err = e instanceof BaseError ? e : publicError(toBaseError(e), { where: "http" });
      await send(err.toBody()).catch(() => undefined);
    } finally {
      await writer.close().catch(() => undefined);
    }
  };
  c.executionCtx.waitUntil(run());
  return new Response(readable, {
    headers: {
      "content-type": "text/event-stream",
      "cache-control": "no-cache",
      "x-ncn-request-id": s.requestId,
    },
  });
}

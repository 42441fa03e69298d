import {
  BaseError,
  EmbedRequest,
  GenerateRequest,
  hasAuthorization,
  InferenceRequest,
  isPaymentErrorCode,
  ModelId,
  OcrRequest,
  type Payment,
  RequestId,
  readBody,
  readRequestEvents,
  requestMaximum,
  type TaskInput,
  taskPricing,
} from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { assertPayer, callerOf } from "../access.ts";
import { fromCatalog, ocrStages, priceOf } from "../catalog.ts";
import { configOf } from "../env.ts";
import { type AppContext, type AppEnv, JSON_BODY } from "../http.ts";
import { acknowledgeApiKey, apiKeyPayment, releaseApiKeyPayment } from "../keys/index.ts";
import { unwrap } from "../rpc.ts";
import { requireValidatorQuorum } from "../validators/health.ts";
import { paymentInfo } from "./quote.ts";

/** Default OCR pipeline when the client names none. */
export const DEFAULT_OCR_MODEL = v.parse(ModelId, "ppocr-v4");
const DEFAULT_TIMEOUT_MS = 30_000;

export const inferenceRoutes = new Hono<AppEnv>();

inferenceRoutes.post("/v1/inference", async (c) => {
  const body = await readBody(c.req.raw, InferenceRequest, JSON_BODY);
  return submit(c, body.subnet, { kind: "tensor", model: body.model, inputs: body.inputs }, body);
});

inferenceRoutes.post("/v1/ocr", async (c) => {
  const body = await readBody(c.req.raw, OcrRequest, JSON_BODY);
  const model = body.model ?? DEFAULT_OCR_MODEL;
  return submit(c, body.subnet, { kind: "ocr", model, image: body.image }, body);
});

inferenceRoutes.post("/v1/generate", async (c) => {
  const body = await readBody(c.req.raw, GenerateRequest, JSON_BODY);
  const input: TaskInput = {
    kind: "generate",
    model: body.model,
    prompt: body.prompt,
    sampling: body.sampling,
  };
  return submit(c, body.subnet, input, body);
});

inferenceRoutes.post("/v1/embed", async (c) => {
  const body = await readBody(c.req.raw, EmbedRequest, JSON_BODY);
  return submit(c, body.subnet, { kind: "embed", model: body.model, texts: body.texts }, body);
});

inferenceRoutes.get("/v1/inference/:id", async (c) => {
  const { id, stub } = await payersRequest(c);
  const waitMs = Number(c.req.query("wait") ?? "0");
  const r =
    Number.isFinite(waitMs) && waitMs > 0 ? await stub.wait(Math.min(waitMs, 60_000)) : await stub.status();
  if (!r) throw new BaseError("REQUEST_NOT_FOUND", `no request ${id}`);
  return c.json(r);
});

inferenceRoutes.get("/v1/inference/:id/events", async (c) => {
  const { stub } = await payersRequest(c);
  return stub.fetch(c.req.raw);
});

inferenceRoutes.get("/v1/inference/:id/ws", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new BaseError("BAD_REQUEST", "this path expects a WebSocket upgrade");
  }
  const { stub } = await payersRequest(c);
  return stub.fetch(c.req.raw);
});

inferenceRoutes.delete("/v1/inference/:id", async (c) => {
  const { id, stub } = await payersRequest(c);
  const r = await stub.cancel();
  if (!r) throw new BaseError("REQUEST_NOT_FOUND", `no request ${id}`);
  return c.json(r);
});

/** The request named in the path, once its payer's RequestAccess signature checked out. */
async function payersRequest(c: AppContext) {
  const id = parseId(c.req.param("id") ?? "");
  const stub = c.env.REQUEST.get(c.env.REQUEST.idFromName(id));
  assertPayer(id, await stub.payer(), await callerOf(c, id));
  return { id, stub };
}

function parseId(raw: string): string {
  const r = v.safeParse(RequestId, raw);
  if (!r.success) throw new BaseError("INVALID_INPUT", `invalid request id: ${r.issues[0]?.message}`);
  return r.output;
}

/** What a request is sent with besides its input. */
export interface SubmitOptions {
  requestId?: string | undefined;
  payment?: Payment | undefined;
  timeoutMs?: number | undefined;
  /**
   * A `generate` request whose tokens go to its event stream as the agent produces them
   * (see `requestEvents`); a failure after the first one is not retried on another agent.
   */
  stream?: boolean | undefined;
}

/** A request the REQUEST object accepted (or refused at once: then `created.state` is failed). */
export interface Submission {
  requestId: string;
  subnet: string;
  model: string;
  price: bigint;
  timeoutMs: number;
  stub: RequestStub;
  created: RequestView;
  /** Paid by an API key: signs the key's voucher for exactly what its session is charged. */
  acknowledge?: (() => Promise<void>) | undefined;
}

type RequestStub = ReturnType<AppContext["env"]["REQUEST"]["get"]>;
/** A request as the REQUEST object answers it (`InferenceResponse` over RPC). */
export type RequestView = NonNullable<Awaited<ReturnType<RequestStub["status"]>>>;

/**
 * Prices `input` in `subnet` from the catalog, checks its payment and the validator quorum,
 * and hands it to its REQUEST object. Throws a typed error (a refused payment with how to
 * pay) when nothing was started.
 */
export async function startRequest(
  c: AppContext,
  subnet: string,
  input: TaskInput,
  body: SubmitOptions,
): Promise<Submission> {
  const config = configOf(c.env);
  const {
    descriptor,
    price: base,
    pricing: tokenPrices,
    pipeline,
  } = await fromCatalog(
    config.REGISTRY_URLS,
    (catalog) => ({
      ...priceOf(catalog, subnet, input.model),
      pipeline: input.kind === "ocr" ? ocrStages(catalog, input.model) : [],
    }),
    (refresh) => c.executionCtx.waitUntil(refresh),
  );
  // Priced per token: authorised for the most it may cost, charged what the result used.
  const modelPrice = { price: base.toString(), pricing: tokenPrices };
  const price = requestMaximum(modelPrice, input);
  const pricing = taskPricing(modelPrice, input);
  const requestId = body.requestId ?? crypto.randomUUID();
  const authorization = c.req.header("authorization");
  const byKey = hasAuthorization(authorization);
  if (byKey && body.payment) {
    throw new BaseError(
      "BAD_REQUEST",
      "pay with either an API key (Authorization) or a payment field, not both",
    );
  }
  if (!body.payment && !byKey) {
    throw new BaseError(
      "PAYMENT_REQUIRED",
      "this request needs a payment (session voucher, escrow or API key)",
      {
        details: await paymentInfo(c, subnet, input.model, price, requestId),
      },
    );
  }
  // Without a quorum the work would be computed and then refused: do not start it.
  await requireValidatorQuorum(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD, (p) =>
    c.executionCtx.waitUntil(p),
  );
  const payment =
    body.payment ??
    (await submitted(c, subnet, input.model, price, requestId, () =>
      apiKeyPayment(c, authorization, { subnet, model: input.model, price, requestId }),
    ));
  const stub = c.env.REQUEST.get(c.env.REQUEST.idFromName(requestId));
  const caller = await callerOf(c, requestId);
  const timeoutMs = Math.min(body.timeoutMs ?? DEFAULT_TIMEOUT_MS, 600_000);
  const created = await submitted(c, subnet, input.model, price, requestId, async () => {
    const answer = await stub.submit(
      {
        requestId,
        subnet,
        input,
        payment,
        price: price.toString(),
        ...(pricing ? { pricing } : {}),
        descriptor,
        pipeline,
        timeoutMs,
        ...(body.stream === true ? { stream: true } : {}),
      },
      caller,
    );
    // A key's reservation that no request took (its id is someone else's) goes back at once.
    if (!answer.ok && byKey && payment.mode === "session") await releaseApiKeyPayment(c, payment, requestId);
    return unwrap(answer);
  });
  // A key's charges below their reservation leave a charged total no voucher equals: once the
  // request returned, the key signs one for exactly that total (the key is not kept after).
  const acknowledge =
    byKey && pricing && payment.mode === "session" ? () => acknowledgeApiKey(c, authorization) : undefined;
  return { requestId, subnet, model: input.model, price, timeoutMs, stub, created, acknowledge };
}

/** The typed error a failed request answers with (a refused payment says how to pay). */
export async function failureOf(c: AppContext, s: Submission, done: RequestView): Promise<BaseError> {
  const error = done.error ?? { code: "INFERENCE_FAILED" as const, message: "the request failed" };
  const details = isPaymentErrorCode(error.code)
    ? await paymentInfo(c, s.subnet, s.model, s.price, s.requestId)
    : { requestId: s.requestId };
  return new BaseError(error.code, error.message, { details });
}

/**
 * The request's event stream (`text/event-stream`, what `GET /v1/inference/:id/events`
 * serves): its progress, its tokens when it streams, then the final response. Read it with
 * `readRequestEvents` from `@ncn/protocol`.
 *
 * @example
 * for await (const e of readRequestEvents((await requestEvents(c, s)).body)) ...
 */
export function requestEvents(c: AppContext, s: Submission): Promise<Response> {
  return s.stub.fetch(new Request(new URL(`/v1/inference/${s.requestId}/events`, c.req.url)));
}

/**
 * The request's event stream, as `requestEvents`; paid by an API key, the key acknowledges the
 * charge once the final event says the request returned (read from a copy of the stream).
 */
async function acknowledgedEvents(c: AppContext, s: Submission): Promise<Response> {
  const events = await requestEvents(c, s);
  const acknowledge = s.acknowledge;
  if (!acknowledge || !events.body) return events;
  const [toClient, watched] = events.body.tee();
  const watch = async () => {
    for await (const e of readRequestEvents(watched)) {
      if (e.type === "final" && e.response.state === "returned") await acknowledge();
    }
  };
  c.executionCtx.waitUntil(watch().catch(() => undefined));
  return new Response(toClient, events);
}

/** The request once it reached a terminal state (or what it is when the wait ran out). */
export async function settledRequest(s: Submission): Promise<RequestView> {
  if (s.created.state === "failed") return s.created;
  const done = (await s.stub.wait(s.timeoutMs + 1000)) ?? s.created;
  if (done.state === "returned") await s.acknowledge?.().catch(() => undefined);
  return done;
}

async function submit(
  c: AppContext,
  subnet: string,
  input: TaskInput,
  body: SubmitOptions,
): Promise<Response> {
  const s = await startRequest(c, subnet, input, body);
  const asyncMode =
    (c.req.header("prefer") ?? "").includes("respond-async") || c.req.query("wait") === "false";
  if (asyncMode && s.created.state !== "failed") {
    return c.json(s.created, 202, { location: `/v1/inference/${s.requestId}` });
  }
  // A streaming request answers with its event stream: tokens as they come, then the final response.
  if (body.stream === true && s.created.state !== "failed") return acknowledgedEvents(c, s);
  const done = await settledRequest(s);
  if (done.state === "failed" && done.error) {
    const err = await failureOf(c, s, done);
    return c.json({ ...err.toBody(), request: done }, err.status);
  }
  return c.json(done, done.state === "returned" ? 200 : 202);
}

/** Runs a submission; a refused payment answers with its own details plus how to pay. */
async function submitted<T>(
  c: AppContext,
  subnet: string,
  model: string,
  price: bigint,
  requestId: string,
  run: () => Promise<T>,
): Promise<T> {
  try {
    return await run();
  } catch (e) {
    if (!(e instanceof BaseError) || !isPaymentErrorCode(e.code)) throw e;
    const own = typeof e.details === "object" && e.details !== null ? e.details : {};
    throw new BaseError(e.code, e.shortMessage, {
      details: { ...(await paymentInfo(c, subnet, model, price, requestId)), ...own },
    });
  }
}

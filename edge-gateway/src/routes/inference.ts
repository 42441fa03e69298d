import {
  BaseError,
  InferenceRequest,
  OcrRequest,
  type Payment,
  RequestId,
  type TaskInput,
} from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { loadCatalog, ocrStages, priceOf } from "../catalog.ts";
import { configOf } from "../env.ts";
import { type AppContext, type AppEnv, jsonBody } from "../http.ts";
import { unwrap } from "../rpc.ts";
import { requireValidatorQuorum } from "../validators/health.ts";
import { paymentInfo } from "./quote.ts";

/** Default OCR pipeline when the client names none. */
export const DEFAULT_OCR_MODEL = "ppocr-v4";
const DEFAULT_TIMEOUT_MS = 30_000;

export const inferenceRoutes = new Hono<AppEnv>();

inferenceRoutes.post("/v1/inference", async (c) => {
  const body = await jsonBody(c, InferenceRequest);
  return submit(c, body.subnet, { kind: "tensor", model: body.model, inputs: body.inputs }, body);
});

inferenceRoutes.post("/v1/ocr", async (c) => {
  const body = await jsonBody(c, OcrRequest);
  const model = body.model ?? (DEFAULT_OCR_MODEL as typeof body.subnet);
  return submit(c, body.subnet, { kind: "ocr", model: model as never, image: body.image }, body);
});

inferenceRoutes.get("/v1/inference/:id", async (c) => {
  const id = parseId(c.req.param("id"));
  const waitMs = Number(c.req.query("wait") ?? "0");
  const stub = c.env.REQUEST.get(c.env.REQUEST.idFromName(id));
  const r =
    Number.isFinite(waitMs) && waitMs > 0 ? await stub.wait(Math.min(waitMs, 60_000)) : await stub.status();
  if (!r) throw new BaseError("REQUEST_NOT_FOUND", `no request ${id}`);
  return c.json(r);
});

inferenceRoutes.get("/v1/inference/:id/events", async (c) => {
  const id = parseId(c.req.param("id"));
  return c.env.REQUEST.get(c.env.REQUEST.idFromName(id)).fetch(c.req.raw);
});

inferenceRoutes.get("/v1/inference/:id/ws", async (c) => {
  const id = parseId(c.req.param("id"));
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new BaseError("BAD_REQUEST", "this path expects a WebSocket upgrade");
  }
  return c.env.REQUEST.get(c.env.REQUEST.idFromName(id)).fetch(c.req.raw);
});

inferenceRoutes.delete("/v1/inference/:id", async (c) => {
  const id = parseId(c.req.param("id"));
  const r = await c.env.REQUEST.get(c.env.REQUEST.idFromName(id)).cancel();
  if (!r) throw new BaseError("REQUEST_NOT_FOUND", `no request ${id}`);
  return c.json(r);
});

function parseId(raw: string): string {
  const r = v.safeParse(RequestId, raw);
  if (!r.success) throw new BaseError("INVALID_INPUT", `invalid request id: ${r.issues[0]?.message}`);
  return r.output;
}

async function submit(
  c: AppContext,
  subnet: string,
  input: TaskInput,
  body: { requestId?: string | undefined; payment?: Payment | undefined; timeoutMs?: number | undefined },
): Promise<Response> {
  const config = configOf(c.env);
  const catalog = await loadCatalog(config.REGISTRY_URLS);
  const { descriptor, price } = priceOf(catalog, subnet, input.model);
  const pipeline = input.kind === "ocr" ? ocrStages(catalog, input.model) : [];
  const requestId = body.requestId ?? crypto.randomUUID();
  if (!body.payment) {
    throw new BaseError("PAYMENT_REQUIRED", "this request needs a payment (session voucher or escrow)", {
      details: await paymentInfo(c, subnet, input.model, price, requestId),
    });
  }
  // Without a quorum the work would be computed and then refused: do not start it.
  await requireValidatorQuorum(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD);
  const stub = c.env.REQUEST.get(c.env.REQUEST.idFromName(requestId));
  const timeoutMs = Math.min(body.timeoutMs ?? DEFAULT_TIMEOUT_MS, 600_000);
  const created = unwrap(
    await stub.submit({
      requestId,
      subnet,
      input,
      payment: body.payment,
      price: price.toString(),
      descriptor,
      pipeline,
      timeoutMs,
    }),
  );
  const asyncMode =
    (c.req.header("prefer") ?? "").includes("respond-async") || c.req.query("wait") === "false";
  if (asyncMode) {
    return c.json(created, 202, { location: `/v1/inference/${requestId}` });
  }
  const done = (await stub.wait(timeoutMs + 1000)) ?? created;
  if (done.state === "failed" && done.error) {
    const payment = ["PAYMENT_REQUIRED", "INSUFFICIENT_FUNDS", "PAYMENT_EXPIRED"].includes(done.error.code)
      ? await paymentInfo(c, subnet, input.model, price, requestId)
      : { requestId };
    const err = new BaseError(done.error.code, done.error.message, { details: payment });
    return c.json({ ...err.toBody(), request: done }, err.status);
  }
  return c.json(done, done.state === "returned" ? 200 : 202);
}

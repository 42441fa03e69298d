import { BaseError, parseJson, parseOrThrow, StreamBatchRequest } from "@ncn/protocol";
import type { ServerWebSocket } from "bun";
import * as v from "valibot";
import type { ValidationService } from "../validation/validation-service.ts";

/** Path a gateway opens a validation socket on. */
export const VALIDATE_SOCKET_PATH = "/v1/validate/ws";
/** Largest message accepted on a validation socket. */
const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

const SocketRequest = v.object({
  id: v.pipe(v.number(), v.integer(), v.minValue(0)),
  op: v.literal("stream"),
  body: v.unknown(),
});

/**
 * A persistent socket for stream validation: the same answers as `POST /v1/validate/stream`
 * (`{id, ok: true, body}` or `{id, ok: false, error}` with the typed error body), without an
 * HTTP exchange per batch. A gateway keeps one open per validator; the per-request cost
 * of an HTTP call was most of a small batch's validation time.
 */
export function validationSocketHandlers(validation: ValidationService) {
  return {
    maxPayloadLength: MAX_MESSAGE_BYTES,
    async message(ws: ServerWebSocket<undefined>, message: string | Buffer): Promise<void> {
      const text = typeof message === "string" ? message : message.toString("utf8");
      let id = -1;
      try {
        const req = parseOrThrow(SocketRequest, parseJson(text, "message"), "message");
        id = req.id;
        const body = parseOrThrow(StreamBatchRequest, req.body, "body");
        const out = await validation.stream(body);
        ws.send(JSON.stringify({ id, ok: true, body: out }));
      } catch (e) {
        const err =
          e instanceof BaseError ? e : new BaseError("INTERNAL", e instanceof Error ? e.message : String(e));
        ws.send(JSON.stringify({ id, ok: false, error: err.toBody().error }));
      }
    },
  };
}

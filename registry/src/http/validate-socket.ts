import { BaseError, errorBody, parseJson, parseOrThrow, StreamBatchRequest } from "@ncn/protocol";
import type { Server, ServerWebSocket } from "bun";
import * as v from "valibot";
import type { ValidationService } from "../validation/validation-service.ts";
import type { GatewayAuthenticator } from "./gateway-auth.ts";

/** Path a gateway opens a validation socket on. */
export const VALIDATE_SOCKET_PATH = "/v1/validate/ws";
/** Largest message accepted on a validation socket. */
const MAX_MESSAGE_BYTES = 32 * 1024 * 1024;

/** What a validation socket knows of its peer: the gateway its upgrade authenticated. */
export interface ValidationSocketData {
  gateway: `0x${string}`;
}

const SocketRequest = v.object({
  id: v.pipe(v.number(), v.integer(), v.minValue(0)),
  op: v.literal("stream"),
  body: v.unknown(),
});

/** Validation sockets opened, and upgrades refused (for `/health`). */
export interface ValidationSocketStats {
  opened: number;
  refused: number;
}

/**
 * Upgrades a gateway's request to a validation socket once its `Authorization` header
 * proves a trusted gateway; otherwise answers with the typed 401/403. The socket stays
 * the gateway's for its life (the token is checked at the upgrade, not per message).
 */
export async function upgradeValidationSocket(
  req: Request,
  server: Server<ValidationSocketData>,
  auth: GatewayAuthenticator,
  stats: ValidationSocketStats,
): Promise<Response | undefined> {
  let gateway: `0x${string}`;
  try {
    gateway = await auth.authenticate(req.headers.get("authorization"));
  } catch (e) {
    stats.refused++;
    const err = e instanceof BaseError ? e : new BaseError("UNAUTHORIZED", "cannot authenticate the gateway");
    return Response.json(err.toBody(), { status: err.status });
  }
  if (server.upgrade(req, { data: { gateway } })) {
    stats.opened++;
    return undefined;
  }
  return Response.json(errorBody("BAD_REQUEST", "expected a WebSocket upgrade"), { status: 400 });
}

/**
 * A persistent socket for stream validation: the same answers as `POST /v1/validate/stream`
 * (`{id, ok: true, body}` or `{id, ok: false, error}` with the typed error body), without an
 * HTTP exchange per batch. A gateway keeps one open per validator; the per-request cost
 * of an HTTP call was most of a small batch's validation time.
 */
export function validationSocketHandlers(validation: ValidationService) {
  return {
    maxPayloadLength: MAX_MESSAGE_BYTES,
    async message(ws: ServerWebSocket<ValidationSocketData>, message: string | Buffer): Promise<void> {
      const text = typeof message === "string" ? message : message.toString("utf8");
      let id = -1;
      try {
        const req = parseOrThrow(SocketRequest, parseJson(text, "message"), "message");
        id = req.id;
        const body = parseOrThrow(StreamBatchRequest, req.body, "body");
        const out = await validation.stream(body, ws.data.gateway);
        ws.send(JSON.stringify({ id, ok: true, body: out }));
      } catch (e) {
        const err =
          e instanceof BaseError ? e : new BaseError("INTERNAL", e instanceof Error ? e.message : String(e));
        ws.send(JSON.stringify({ id, ok: false, error: err.toBody().error }));
      }
    },
  };
}

import {
  BaseError,
  errorBody,
  parseJson,
  parseOrThrow,
  StreamBatchRequest,
  toBaseError,
  VALIDATE_SOCKET_PATH,
  VALIDATION_SOCKET_CLOSE,
  VALIDATION_SOCKET_MAX_MESSAGE_BYTES,
} from "@ncn/protocol";
import type { Server, ServerWebSocket } from "bun";
import * as v from "valibot";
import type { ValidationService } from "../validation/validation-service.ts";
import type { GatewayAuthenticator } from "./gateway-auth.ts";
import { type RateBucket, type SocketLimits, type SocketSlots, spendToken } from "./socket-limits.ts";

export { VALIDATE_SOCKET_PATH };

/** What a validation socket knows of its peer, and its own accounting. */
export interface ValidationSocketData {
  /** The gateway its upgrade authenticated. */
  gateway: `0x${string}`;
  /** When that gateway's token expires: the socket is closed then. */
  expiresAt: number;
  /** The remote address holding one of the node's socket slots. */
  address: string;
  inFlight: number;
  bucket: RateBucket;
  expiry?: ReturnType<typeof setTimeout>;
}

const SocketRequest = v.object({
  id: v.pipe(v.number(), v.integer(), v.minValue(0)),
  op: v.literal("stream"),
  body: v.unknown(),
});

/** Validation sockets opened, upgrades refused, and sockets closed by a limit (for `/health`). */
export interface ValidationSocketStats {
  opened: number;
  refused: number;
  closedByLimit: number;
}

/** The request id a message starts with (gateways write it first), read without parsing the message. */
const LEADING_ID = /^\s*\{\s*"id"\s*:\s*(\d{1,15})\s*,/;

/**
 * Upgrades a gateway's request to a validation socket when a slot is free (total and per
 * remote address; else 429 RATE_LIMITED) and its `Authorization` header proves a trusted
 * gateway (else the typed 401/403, as on the HTTP validation API). The slot is checked first,
 * so a flood of upgrades costs no signature recovery.
 */
export async function upgradeValidationSocket(
  req: Request,
  server: Server<ValidationSocketData>,
  auth: GatewayAuthenticator,
  slots: SocketSlots,
  stats: ValidationSocketStats,
  now: () => number = Date.now,
): Promise<Response | undefined> {
  const address = server.requestIP(req)?.address ?? "unknown";
  const full = slots.take(address);
  if (full) {
    stats.refused++;
    const err = errorBody("RATE_LIMITED", "too many validation sockets are open", { reason: full });
    return Response.json(err, { status: 429 });
  }
  let session: { gateway: `0x${string}`; expiresAt: number };
  try {
    session = await auth.authenticateUntil(req.headers.get("authorization"));
  } catch (e) {
    slots.release(address);
    stats.refused++;
    const err = toBaseError(e, { code: "UNAUTHORIZED", message: "cannot authenticate the gateway" });
    return Response.json(err.toBody(), { status: err.status });
  }
  const data: ValidationSocketData = {
    ...session,
    address,
    inFlight: 0,
    bucket: { tokens: Number.POSITIVE_INFINITY, at: now() },
  };
  if (server.upgrade(req, { data })) {
    stats.opened++;
    return undefined;
  }
  slots.release(address);
  return Response.json(errorBody("BAD_REQUEST", "expected a WebSocket upgrade"), { status: 400 });
}

function refusal(id: number, err: BaseError): string {
  return JSON.stringify({ id, ok: false, error: err.toBody().error });
}

/**
 * A persistent socket for stream validation: the same answers as `POST /v1/validate/stream`
 * (`{id, ok: true, body}` or `{id, ok: false, error}` with the typed error body), without an
 * HTTP exchange per batch. A gateway keeps one open per validator; the per-request cost
 * of an HTTP call was most of a small batch's validation time.
 *
 * Bounded like the HTTP API: a frame declaring more than the message limit is refused from
 * its header (close 1009) before its body is read; a socket sending faster than its rate is
 * closed (4429); one with too many messages in validation gets RATE_LIMITED answers; and the
 * socket closes when its gateway token expires (4401), as a call with that token would fail.
 */
export function validationSocketHandlers(
  validation: ValidationService,
  options: {
    slots: SocketSlots;
    limits: SocketLimits;
    stats: ValidationSocketStats;
    now?: () => number;
  },
) {
  const { slots, limits, stats } = options;
  const now = options.now ?? Date.now;
  return {
    maxPayloadLength: VALIDATION_SOCKET_MAX_MESSAGE_BYTES,
    open(ws: ServerWebSocket<ValidationSocketData>): void {
      ws.data.bucket = { tokens: limits.burst, at: now() };
      ws.data.expiry = setTimeout(
        () => ws.close(VALIDATION_SOCKET_CLOSE.TOKEN_EXPIRED, "gateway token expired"),
        Math.max(0, ws.data.expiresAt - now()),
      );
    },
    close(ws: ServerWebSocket<ValidationSocketData>): void {
      clearTimeout(ws.data.expiry);
      slots.release(ws.data.address);
    },
    async message(ws: ServerWebSocket<ValidationSocketData>, message: string | Buffer): Promise<void> {
      const spent = spendToken(ws.data.bucket, now(), limits.messagesPerSecond, limits.burst);
      ws.data.bucket = spent.bucket;
      if (!spent.allowed) {
        stats.closedByLimit++;
        ws.close(VALIDATION_SOCKET_CLOSE.RATE_LIMITED, "messages faster than the socket's rate");
        return;
      }
      const text = typeof message === "string" ? message : message.toString("utf8");
      if (ws.data.inFlight >= limits.maxInFlight) {
        const id = Number(LEADING_ID.exec(text.slice(0, 64))?.[1] ?? -1);
        ws.send(
          refusal(
            id,
            new BaseError(
              "RATE_LIMITED",
              `more than ${limits.maxInFlight} batches in validation on this socket`,
              {
                details: { reason: "too_many_in_flight" },
              },
            ),
          ),
        );
        return;
      }
      ws.data.inFlight++;
      let id = -1;
      try {
        const req = parseOrThrow(SocketRequest, parseJson(text, "message"), "message");
        id = req.id;
        const body = parseOrThrow(StreamBatchRequest, req.body, "body");
        const out = await validation.stream(body, ws.data.gateway);
        ws.send(JSON.stringify({ id, ok: true, body: out }));
      } catch (e) {
        ws.send(refusal(id, toBaseError(e)));
      } finally {
        ws.data.inFlight--;
      }
    },
  };
}

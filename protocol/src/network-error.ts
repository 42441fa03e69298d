import { BaseError } from "./errors.ts";

/**
 * Socket-level failures (Bun's and Node's codes, undici's) that happen before a request is
 * sent: the server never saw it, so it cannot have been charged or run.
 */
const NOT_SENT: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/** Failures of a connection that may have carried the request: its outcome is unknown. */
const MAYBE_SENT: Record<string, string> = {
  ECONNRESET: "connection reset",
  ConnectionClosed: "connection closed",
  UND_ERR_SOCKET: "connection closed",
  EPIPE: "connection closed",
  ETIMEDOUT: "connection timed out",
  ECONNABORTED: "connection aborted",
};

function field(e: unknown, name: string): unknown {
  return typeof e === "object" && e !== null && name in e ? (e as Record<string, unknown>)[name] : undefined;
}

/**
 * The typed error for a request that never reached its server (refused, unknown host,
 * unreachable): `UNAVAILABLE`, saying where and why, with `details: { url, reason, cause }`.
 * Walks the cause chain (fetch in Bun and Node, viem's HttpRequestError); undefined for any
 * other error, including an answer the server gave.
 *
 * A connection lost after the request may have gone out (reset, closed, timed out) is left
 * alone unless `lost` is set: its outcome is unknown (the server may have run and charged it),
 * so a client must read the request back rather than take it as failed. With `lost`, it is
 * `UNAVAILABLE` too, saying the request may have been received: for a person to read.
 */
export function networkErrorOf(
  e: unknown,
  where?: { url?: string; what?: string; lost?: boolean },
): BaseError | undefined {
  if (e instanceof BaseError) return undefined;
  let url = where?.url;
  let code: string | undefined;
  let message: string | undefined;
  for (
    let c: unknown = e, depth = 0;
    c !== undefined && c !== null && depth < 8;
    c = field(c, "cause"), depth++
  ) {
    const u = field(c, "url") ?? field(c, "path");
    if (url === undefined && typeof u === "string" && /^(https?|wss?):\/\//.test(u)) url = u;
    const k = field(c, "code");
    if (typeof k === "string" && (NOT_SENT[k] !== undefined || MAYBE_SENT[k] !== undefined)) {
      code = k;
      message = typeof field(c, "message") === "string" ? (field(c, "message") as string) : undefined;
      break;
    }
  }
  if (code === undefined) return undefined;
  const notSent = NOT_SENT[code];
  if (notSent === undefined && !where?.lost) return undefined;
  const reason = notSent ?? (MAYBE_SENT[code] as string);
  const target = where?.what ?? "the server";
  const at = url ? ` at ${url}` : "";
  const text = notSent
    ? `cannot reach ${target}${at}: ${reason} (${code})`
    : `lost the connection to ${target}${at}: ${reason} (${code}); the request may have been received`;
  return new BaseError("UNAVAILABLE", text, {
    details: { ...(url ? { url } : {}), reason, sent: notSent ? false : "unknown", cause: message ?? code },
    cause: e,
  });
}

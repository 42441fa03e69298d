import { BaseError } from "./errors.ts";

/** Socket-level failures (Bun's and Node's codes, undici's), with what they mean to a person. */
const REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ConnectionRefused: "connection refused",
  ECONNRESET: "connection reset",
  ConnectionClosed: "connection closed",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host name lookup failed",
  ETIMEDOUT: "connection timed out",
  UND_ERR_CONNECT_TIMEOUT: "connection timed out",
  UND_ERR_SOCKET: "connection closed",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
  ECONNABORTED: "connection aborted",
  EPIPE: "connection closed",
};

function field(e: unknown, name: string): unknown {
  return typeof e === "object" && e !== null && name in e ? (e as Record<string, unknown>)[name] : undefined;
}

/**
 * The typed error for a request that never reached its server (refused, unknown host, reset,
 * timed out): `UNAVAILABLE`, saying where and why, with `details: { url, reason, cause }`.
 * Walks the cause chain (fetch in Bun and Node, viem's HttpRequestError); undefined for any
 * other error, including an answer the server gave.
 */
export function networkErrorOf(e: unknown, where?: { url?: string; what?: string }): BaseError | undefined {
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
    if (typeof k === "string" && REASONS[k] !== undefined) {
      code = k;
      message = typeof field(c, "message") === "string" ? (field(c, "message") as string) : undefined;
      break;
    }
  }
  if (code === undefined) return undefined;
  const reason = REASONS[code] as string;
  const target = where?.what ?? "the server";
  return new BaseError(
    "UNAVAILABLE",
    `cannot reach ${target}${url ? ` at ${url}` : ""}: ${reason} (${code})`,
    {
      details: { ...(url ? { url } : {}), reason, cause: message ?? code },
      cause: e,
    },
  );
}

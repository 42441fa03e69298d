import { BaseError, type ErrorCode } from "@ncn/protocol";
import { publicError } from "./public-error.ts";

/**
 * Result of a Durable Object RPC that may fail with a typed error. Exceptions thrown
 * across RPC arrive as plain `Error`s without their code, so objects return failures
 * as values and callers turn them back into `BaseError`s with `unwrap`.
 */
export type Rpc<T> =
  | { ok: true; value: T }
  | { ok: false; error: { code: ErrorCode; message: string; details?: unknown } };

export async function rpc<T>(fn: () => Promise<T>): Promise<Rpc<T>> {
  try {
    return { ok: true, value: await fn() };
  } catch (e) {
    const err = publicError(e, { where: "rpc" });
    return {
      ok: false,
      error:
        err.details === undefined
          ? { code: err.code, message: err.shortMessage }
          : { code: err.code, message: err.shortMessage, details: err.details },
    };
  }
}

export function unwrap<T>(r: Rpc<T>): T {
  if (r.ok) return r.value;
  throw new BaseError(r.error.code, r.error.message, { details: r.error.details });
}

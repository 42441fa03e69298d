import { BaseError, toBaseError } from "@ncn/protocol";
import { logger } from "./log.ts";

const log = logger("gateway:error");

/** What a client is told about a failure that is not one of ours: a code and fixed text. */
export const INTERNAL_MESSAGE = "internal error; the gateway's log has the details";

/**
 * The error a client may see for `e`. Typed errors pass as they are: their text is written by
 * the gateway. Anything else (a library's error, whose message may hold an RPC URL with its
 * API key or a response body) becomes a fixed `INTERNAL` error; the original goes to the log only.
 */
export function publicError(e: unknown, context: Record<string, unknown> = {}): BaseError {
  if (!(e instanceof BaseError)) {
    log.error("unexpected error", { ...context, error: e instanceof Error ? e.message : String(e) });
  }
  return toBaseError(e, { message: INTERNAL_MESSAGE });
}

import { BaseError, errorBody } from "@ncn/protocol";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "../logger.ts";

/** Turns any thrown error into the protocol's error body with its status. */
export function errorResponder(log: Logger) {
  return (err: Error, c: Context) => {
    if (err instanceof BaseError) {
      return c.json(err.toBody(), err.status as ContentfulStatusCode);
    }
    log.error("unhandled error", { path: c.req.path, method: c.req.method, err });
    return c.json(errorBody("INTERNAL", "internal error"), 500);
  };
}

export function notFound(c: Context) {
  return c.json(errorBody("NOT_FOUND", `no route ${c.req.method} ${c.req.path}`), 404);
}

import { BaseError, errorBody, toBaseError } from "@ncn/protocol";
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { Logger } from "../logger.ts";

/** Turns any thrown error into the protocol's error body with its status. */
export function errorResponder(log: Logger) {
  return (err: Error, c: Context) => {
    if (!(err instanceof BaseError))
      log.error("unhandled error", { path: c.req.path, method: c.req.method, err });
    const typed = toBaseError(err, { message: "internal error" });
    return c.json(typed.toBody(), typed.status as ContentfulStatusCode);
  };
}

export function notFound(c: Context) {
  return c.json(errorBody("NOT_FOUND", `no route ${c.req.method} ${c.req.path}`), 404);
}

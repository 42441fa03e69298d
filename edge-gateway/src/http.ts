import { BaseError, parseJson, parseOrThrow } from "@ncn/protocol";
import type { Context } from "hono";
import type * as v from "valibot";
import type { Env } from "./env.ts";
import { publicError } from "./public-error.ts";

export type AppEnv = { Bindings: Env };
export type AppContext = Context<AppEnv>;

/** Reads and parses a JSON body with a schema; errors name the bad field. */
export async function jsonBody<S extends v.GenericSchema>(
  c: AppContext,
  schema: S,
): Promise<v.InferOutput<S>> {
  const type = c.req.header("content-type") ?? "";
  if (!type.includes("application/json")) {
    throw new BaseError("BAD_REQUEST", "send the body as application/json");
  }
  return parseOrThrow(schema, parseJson(await c.req.text(), "body"), "body");
}

/** Parses the query string with a schema. */
export function query<S extends v.GenericSchema>(c: AppContext, schema: S): v.InferOutput<S> {
  return parseOrThrow(schema, c.req.query(), "query");
}

export function errorResponse(e: unknown): Response {
  const err = publicError(e, { where: "http" });
  return Response.json(err.toBody(), { status: err.status });
}

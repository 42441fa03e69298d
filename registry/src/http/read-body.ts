import { parseJson, parseOrThrow } from "@ncn/protocol";
import type { Context } from "hono";
import type * as v from "valibot";

/**
 * Reads a JSON body and parses it with `schema`; a bad body throws `INVALID_INPUT` naming
 * the first bad field (details list every issue).
 */
export async function readBody<S extends v.GenericSchema>(c: Context, schema: S): Promise<v.InferOutput<S>> {
  const text = await c.req.text();
  return parseOrThrow(schema, parseJson(text, "body"), "body");
}

/** Parses the query string with `schema` (every value a string). */
export function readQuery<S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> {
  return parseOrThrow(schema, c.req.query(), "query");
}

/** Parses route params with `schema`. */
export function readParams<S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> {
  return parseOrThrow(schema, c.req.param(), "path");
}

import type * as v from "valibot";
import { BaseError } from "./errors.ts";
import { parseJson, parseOrThrow } from "./parse.ts";

export interface ReadBodyOptions {
  /** Refuse (`BAD_REQUEST`) a body not sent as `application/json`. */
  requireJsonType?: boolean;
}

/**
 * Reads a request's JSON body and parses it with `schema`. A body that is not JSON, or breaks
 * the schema, throws `INVALID_INPUT` naming the first bad field (details list every issue).
 * Only the Fetch API: the same reader serves the gateway (Workers) and the registry (Bun).
 *
 * @example
 * app.post("/v1/agents/heartbeat", async (c) => c.json(await use(await readBody(c.req.raw, AgentHeartbeat))));
 */
export async function readBody<S extends v.GenericSchema>(
  request: Request,
  schema: S,
  options: ReadBodyOptions = {},
): Promise<v.InferOutput<S>> {
  if (options.requireJsonType && !(request.headers.get("content-type") ?? "").includes("application/json")) {
    throw new BaseError("BAD_REQUEST", "send the body as application/json");
  }
  return parseOrThrow(schema, parseJson(await request.text(), "body"), "body");
}

/**
 * Parses a URL's query string with `schema`: each key once, with its first value (every
 * value a string); a bad query throws `INVALID_INPUT` naming the field.
 */
export function readQuery<S extends v.GenericSchema>(url: string | URL, schema: S): v.InferOutput<S> {
  const first = new Map<string, string>();
  for (const [key, value] of new URL(url).searchParams) {
    if (key !== "" && !first.has(key)) first.set(key, value);
  }
  return parseOrThrow(schema, Object.fromEntries(first), "query");
}

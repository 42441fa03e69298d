import { parseOrThrow } from "@ncn/protocol";
import type { Context } from "hono";
import type * as v from "valibot";

/**
 * Parses route params with `schema` (bodies and queries: `readBody` and `readQuery` in the
 * protocol package, which read the Fetch API request itself).
 */
export function readParams<S extends v.GenericSchema>(c: Context, schema: S): v.InferOutput<S> {
  return parseOrThrow(schema, c.req.param(), "path");
}

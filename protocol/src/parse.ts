import * as v from "valibot";
import { ProtocolError } from "./errors.ts";

export interface FieldIssue {
  path: string;
  message: string;
}

/** Flattens valibot issues into `{ path, message }` pairs; the path names the field. */
export function issuesOf(issues: readonly v.BaseIssue<unknown>[]): FieldIssue[] {
  return issues.map((issue) => {
    const path = (issue.path ?? [])
      .map((p) => (typeof p.key === "number" ? `[${p.key}]` : String(p.key)))
      .join(".")
      .replace(/\.\[/g, "[");
    return { path: path === "" ? "(root)" : path, message: issue.message };
  });
}

/**
 * Parses `input` with `schema`, throwing an `INVALID_INPUT` error whose message names
 * the first bad field and whose details list every issue.
 *
 * @example const req = parseOrThrow(InferenceRequest, await c.req.json(), "body");
 */
export function parseOrThrow<S extends v.GenericSchema>(
  schema: S,
  input: unknown,
  what = "input",
): v.InferOutput<S> {
  const r = v.safeParse(schema, input);
  if (r.success) return r.output;
  const issues = issuesOf(r.issues);
  const first = issues[0];
  const msg = first ? `invalid ${what}: ${first.path}: ${first.message}` : `invalid ${what}`;
  // `field` names the first offending field (the error envelope's `param`).
  throw new ProtocolError("INVALID_INPUT", msg, {
    details: first?.path ? { field: first.path, issues } : { issues },
  });
}

/** JSON.parse that turns a syntax error into an `INVALID_INPUT` error. */
export function parseJson(text: string, what = "input"): unknown {
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ProtocolError("INVALID_INPUT", `${what} is not valid JSON`, { cause: e });
  }
}

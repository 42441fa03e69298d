import type { Context } from "hono";
import type { Env } from "./env.ts";
import { publicError } from "./public-error.ts";

export type AppEnv = { Bindings: Env };
export type AppContext = Context<AppEnv>;

/** Clients must say their body is JSON (`readBody`'s option). */
export const JSON_BODY = { requireJsonType: true } as const;

export function errorResponse(e: unknown): Response {
  const err = publicError(e, { where: "http" });
  return Response.json(err.toBody(), { status: err.status });
}

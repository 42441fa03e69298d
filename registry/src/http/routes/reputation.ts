import { Address } from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import type { ApiDeps } from "../api-deps.ts";
import { readParams } from "../read-params.ts";

/**
 * Reputation for gateway scheduling, and the authenticated report endpoint: a report is
 * accepted only when signed by a trusted gateway or an active validator.
 */
export function reputationRoutes(deps: ApiDeps) {
  return new Hono()
    .get("/v1/reputation", (c) => c.json({ agents: deps.reputation.all() }))
    .get("/v1/reputation/:agent", (c) => {
      const { agent } = readParams(c, v.object({ agent: Address }));
      return c.json(deps.reputation.get(agent));
    })
    .post("/v1/reputation/reports", async (c) => {
      const text = await c.req.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = undefined;
      }
      const applied = await deps.reputation.submitReport(body);
      return c.json({ applied });
    });
}

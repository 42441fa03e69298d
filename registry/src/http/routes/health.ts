import { Hono } from "hono";
import type { ApiDeps } from "../api-deps.ts";

/** `GET /health`: liveness, peers, DHT routing table, gossip counters (malformed drops included). */
export function healthRoutes(deps: ApiDeps) {
  return new Hono().get("/health", (c) =>
    c.json({
      status: "ok",
      ...deps.health(),
      records: deps.index.size,
      gossip: deps.gossip.counters(),
      validation: {
        enabled: deps.validation.enabled,
        validator: deps.validation.address ?? null,
        ...deps.validation.stats,
      },
      attestations: deps.attestations.recentCount(),
    }),
  );
}

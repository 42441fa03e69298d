import { Hono } from "hono";
import { loadCatalog } from "../catalog.ts";
import { configOf } from "../env.ts";
import type { AppEnv } from "../http.ts";
import type { AgentSummary } from "../objects/subnet-shard.ts";
import { publicError } from "../public-error.ts";
import { validatorQuorum } from "../validators/health.ts";

export const networkRoutes = new Hono<AppEnv>();

/**
 * Liveness: `ok` says the gateway runs with a valid configuration; `status` is `degraded`
 * while fewer than VALIDATION_THRESHOLD validators answer (new work is refused meanwhile).
 */
networkRoutes.get("/health", async (c) => {
  let config: ReturnType<typeof configOf>;
  try {
    config = configOf(c.env);
  } catch (e) {
    const err = publicError(e, { where: "health" });
    return c.json(
      { ok: false, status: "misconfigured", service: "ncn-gateway", problem: err.shortMessage },
      503,
    );
  }
  const quorum = await validatorQuorum(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD);
  return c.json({
    ok: true,
    status: quorum.ok ? "ok" : "degraded",
    service: "ncn-gateway",
    validators: {
      configured: config.REGISTRY_URLS.length,
      threshold: config.VALIDATION_THRESHOLD,
      answering: quorum.answering,
      missing: quorum.missing,
    },
  });
});

/** Network status: agents and load per subnet, validators, settlement progress. */
networkRoutes.get("/v1/network", async (c) => {
  const config = configOf(c.env);
  const catalog = await loadCatalog(config.REGISTRY_URLS);
  const subnets: { id: string; agents: AgentSummary[]; running: number; capacity: number }[] = [];
  for (const id of catalog.subnets.keys()) {
    const agents: AgentSummary[] = [];
    for (let shard = 0; shard < config.SUBNET_SHARDS; shard++) {
      agents.push(...(await c.env.SUBNET.get(c.env.SUBNET.idFromName(`${id}:${shard}`)).agents()));
    }
    const live = agents.filter((a) => a.connected);
    subnets.push({
      id,
      agents,
      running: live.reduce((s, a) => s + a.running, 0),
      capacity: live.reduce((s, a) => s + a.maxConcurrency, 0),
    });
  }
  const [settlement, quorum] = await Promise.all([
    c.env.SETTLEMENT.get(c.env.SETTLEMENT.idFromName("main")).status(),
    validatorQuorum(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD),
  ]);
  return c.json({
    subnets,
    settlement,
    validators: config.REGISTRY_URLS.length,
    threshold: config.VALIDATION_THRESHOLD,
    quorum: { ok: quorum.ok, answering: quorum.answering, missing: quorum.missing },
  });
});

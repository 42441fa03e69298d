import { Hono } from "hono";
import { loadCatalog } from "../catalog.ts";
import { configOf } from "../env.ts";
import type { AppEnv } from "../http.ts";
import type { AgentSummary } from "../objects/subnet-shard.ts";

export const networkRoutes = new Hono<AppEnv>();

networkRoutes.get("/health", (c) => {
  let configured = true;
  let problem: string | undefined;
  try {
    configOf(c.env);
  } catch (e) {
    configured = false;
    problem = e instanceof Error ? e.message : String(e);
  }
  return c.json(
    { ok: configured, service: "ncn-gateway", ...(problem ? { problem } : {}) },
    configured ? 200 : 503,
  );
});

/** Network status: agents and load per subnet, settlement progress. */
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
  const settlement = await c.env.SETTLEMENT.get(c.env.SETTLEMENT.idFromName("main")).status();
  return c.json({
    subnets,
    settlement,
    validators: config.REGISTRY_URLS.length,
    threshold: config.VALIDATION_THRESHOLD,
  });
});

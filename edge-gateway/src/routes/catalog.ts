import { Hono } from "hono";
import { loadCatalog } from "../catalog.ts";
import { configOf } from "../env.ts";
import type { AppEnv } from "../http.ts";

export const catalogRoutes = new Hono<AppEnv>();

catalogRoutes.get("/v1/models", async (c) => {
  const catalog = await loadCatalog(configOf(c.env).REGISTRY_URLS);
  return c.json({ models: [...catalog.models.values()] });
});

catalogRoutes.get("/v1/subnets", async (c) => {
  const catalog = await loadCatalog(configOf(c.env).REGISTRY_URLS);
  return c.json({ subnets: [...catalog.subnets.values()] });
});

import { BaseError, type OpenAiModel, type TokenPrices } from "@ncn/protocol";
import { Hono } from "hono";
import { type Catalog, loadCatalog } from "../catalog.ts";
import { configOf } from "../env.ts";
import type { AppEnv } from "../http.ts";

export const catalogRoutes = new Hono<AppEnv>();

/**
 * Every registered model (`models`, the network's descriptors) and, in the OpenAI list
 * shape (`object: "list"`, `data`), the models some subnet offers: what an OpenAI client's
 * `models.list()` reads.
 */
catalogRoutes.get("/v1/models", async (c) => {
  const catalog = await loadCatalog(configOf(c.env).REGISTRY_URLS);
  return c.json({ object: "list", data: offered(catalog), models: [...catalog.models.values()] });
});

/** One offered model in the OpenAI shape (`models.retrieve(id)`), or a typed 404. */
catalogRoutes.get("/v1/models/:model{.+}", async (c) => {
  const id = c.req.param("model");
  const catalog = await loadCatalog(configOf(c.env).REGISTRY_URLS);
  const model = offered(catalog).find((m) => m.id === id);
  if (!model)
    throw new BaseError("MODEL_NOT_FOUND", `the model ${id} does not exist`, { details: { field: "model" } });
  return c.json(model);
});

catalogRoutes.get("/v1/subnets", async (c) => {
  const catalog = await loadCatalog(configOf(c.env).REGISTRY_URLS);
  return c.json({ subnets: [...catalog.subnets.values()] });
});

/** A subnet offering a model: its price per request (a base fee with `pricing`) and per token. */
interface OfferedIn {
  id: string;
  price: string;
  pricing?: TokenPrices;
}

/** The models at least one subnet offers, each with the task it serves, where, and at what prices. */
function offered(catalog: Catalog): (OpenAiModel & { ncn: { task: string; subnets: OfferedIn[] } })[] {
  const byModel = new Map<string, OfferedIn[]>();
  for (const s of catalog.subnets.values()) {
    for (const m of s.models) {
      if (!catalog.models.has(m.id)) continue;
      const where = { id: s.id, price: m.price, ...(m.pricing ? { pricing: m.pricing } : {}) };
      byModel.set(m.id, [...(byModel.get(m.id) ?? []), where]);
    }
  }
  const created = Math.floor(catalog.fetchedAt / 1000);
  return [...byModel.entries()].map(([id, subnets]) => ({
    id,
    object: "model" as const,
    created,
    owned_by: "ncn",
    ncn: { task: catalog.models.get(id)?.task ?? "tensor", subnets },
  }));
}

import { ModelId, SubnetId } from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { RegistryError } from "../../errors.ts";
import type { ApiDeps } from "../api-deps.ts";
import { readParams } from "../read-params.ts";

/** Models and subnets, as their owners signed them. */
export function catalogRoutes(deps: ApiDeps) {
  return new Hono()
    .get("/v1/models", (c) => c.json({ models: deps.index.list("model").map((e) => e.record) }))
    .get("/v1/models/:id", async (c) => {
      const { id } = readParams(c, v.object({ id: ModelId }));
      const record = await deps.records.lookup("model", id);
      if (!record) throw new RegistryError("MODEL_NOT_FOUND", `model ${id} is not registered`);
      return c.json(record);
    })
    .get("/v1/subnets", (c) => c.json({ subnets: deps.index.list("subnet").map((e) => e.record) }))
    .get("/v1/subnets/:id", async (c) => {
      const { id } = readParams(c, v.object({ id: SubnetId }));
      const record = await deps.records.lookup("subnet", id);
      if (!record) throw new RegistryError("SUBNET_NOT_FOUND", `subnet ${id} is not registered`);
      return c.json(record);
    });
}

import { parseJson, RecordKind, readQuery } from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { RegistryError } from "../../errors.ts";
import type { ApiDeps } from "../api-deps.ts";
import { readParams } from "../read-params.ts";

const RecordParams = v.object({
  kind: RecordKind,
  key: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9._-]{1,128}$/, "record keys are 1-128 chars of [A-Za-z0-9._-]"),
  ),
});

/** Signed record submission, and lookup by key (index, or `?source=dht` for the network's copy). */
export function recordRoutes(deps: ApiDeps) {
  return new Hono()
    .post("/v1/records", async (c) => {
      const out = await deps.records.publish(parseJson(await c.req.text(), "body"));
      const { record } = out;
      return c.json(
        {
          kind: record.kind,
          key: record.key,
          seq: record.seq,
          result: out.result,
          dhtPeers: out.dhtPeers,
          gossipPeers: out.gossipPeers,
        },
        out.result === "inserted" ? 201 : 200,
      );
    })
    .get("/v1/records/:kind/:key", async (c) => {
      const { kind, key } = readParams(c, RecordParams);
      const { source } = readQuery(c.req.url, v.object({ source: v.optional(v.picklist(["index", "dht"])) }));
      const fromIndex = source === "dht" ? undefined : deps.index.get(kind, key)?.record;
      const record = fromIndex ?? (await deps.records.dhtGet(kind, key));
      if (!record) throw new RegistryError("NOT_FOUND", `no ${kind} record for ${key}`);
      return c.json({ record, source: fromIndex ? "index" : "dht" });
    });
}

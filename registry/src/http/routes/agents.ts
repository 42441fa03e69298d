import {
  Address,
  AgentHeartbeat,
  ModelId,
  readBody,
  readQuery,
  SubnetId,
  verifyHeartbeat,
} from "@ncn/protocol";
import { recoverTextSignerNative } from "@ncn/protocol/secp256k1";
import { Hono } from "hono";
import * as v from "valibot";
import { CLOCK_SKEW_MS, TOPIC_HEARTBEAT } from "../../constants.ts";
import { RegistryError } from "../../errors.ts";
import type { AgentRecord, IndexedRecord } from "../../records/record-index.ts";
import type { ApiDeps } from "../api-deps.ts";
import { readParams } from "../read-params.ts";

const AgentsQuery = v.object({ subnet: v.optional(SubnetId), model: v.optional(ModelId) });

/** Agents: live listing for gateway scheduling (with load and reputation), lookup, heartbeats. */
export function agentRoutes(deps: ApiDeps) {
  const view = ({ record }: IndexedRecord<AgentRecord>) => {
    const live = deps.index.livenessOf(record.owner);
    return {
      address: record.owner,
      record,
      aliveUntil: deps.index.aliveUntil(record),
      lastHeartbeat: live?.lastHeartbeat ?? null,
      load: live?.load ?? null,
      reputation: deps.reputation.get(record.owner),
    };
  };
  return new Hono()
    .get("/v1/agents", (c) => {
      const q = readQuery(c.req.url, AgentsQuery);
      return c.json({ agents: deps.index.liveAgents(q).map(view) });
    })
    .get("/v1/agents/:address", async (c) => {
      const { address } = readParams(c, v.object({ address: Address }));
      const entry = deps.index.get("agent", address);
      if (entry) return c.json(view(entry));
      const record = await deps.records.dhtGet("agent", address);
      if (!record) throw new RegistryError("NOT_FOUND", `agent ${address} is not registered`);
      return c.json(view({ record, receivedAt: Date.now(), own: false }));
    })
    .post("/v1/heartbeats", async (c) => {
      const body = await readBody(c.req.raw, AgentHeartbeat);
      const hb = await verifyHeartbeat(body, Date.now(), CLOCK_SKEW_MS * 2, recoverTextSignerNative);
      if (!deps.index.get("agent", hb.agent)) {
        throw new RegistryError("NOT_FOUND", `agent ${hb.agent} has no record here; publish it first`, {
          details: { field: "agent" },
        });
      }
      const fresh = deps.index.heartbeat(hb);
      if (fresh) await deps.gossip.publish(TOPIC_HEARTBEAT, hb).catch(() => 0);
      return c.json({ accepted: fresh }, 202);
    });
}

import { Address, BaseError, readQuery, SubnetId } from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { configOf } from "../env.ts";
import type { AppEnv } from "../http.ts";
import { shardOf } from "../logic/scheduler.ts";

export const agentRoutes = new Hono<AppEnv>();

const ConnectQuery = v.object({ subnet: SubnetId, agent: Address });

/** Agents dial here; the socket lives in the Subnet shard their address hashes to. */
agentRoutes.get("/v1/agents/connect", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new BaseError("BAD_REQUEST", "this path expects a WebSocket upgrade");
  }
  const q = readQuery(c.req.url, ConnectQuery);
  const shard = shardOf(q.agent, configOf(c.env).SUBNET_SHARDS);
  return c.env.SUBNET.get(c.env.SUBNET.idFromName(`${q.subnet}:${shard}`)).fetch(c.req.raw);
});

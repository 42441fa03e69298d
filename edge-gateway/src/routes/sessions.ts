import { BaseError, Bytes32, readBody, readQuery, SubnetId } from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { loadCatalog } from "../catalog.ts";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf } from "../env.ts";
import { type AppEnv, JSON_BODY } from "../http.ts";
import { shardOf } from "../logic/scheduler.ts";
import { unwrap } from "../rpc.ts";
import { RegisterSession, SessionVoucher } from "./bodies.ts";

export const sessionRoutes = new Hono<AppEnv>();

/** Session ids known not to exist on chain, until when (per isolate, bounded). */
const unknownSessions = new Map<string, number>();
const NEGATIVE_CACHE_MS = 10_000;

/** Registers a session opened on chain: checks it names this gateway and reports its balance. */
sessionRoutes.post("/v1/sessions", async (c) => {
  const { sessionId } = await readBody(c.req.raw, RegisterSession, JSON_BODY);
  const chain = chainOf(configOf(c.env));
  const key = sessionId.toLowerCase();
  const missing = () => new BaseError("NOT_FOUND", "no such session on chain", { details: { sessionId } });
  // Unknown ids are remembered a while, so naming made-up sessions costs no chain read each time.
  if ((unknownSessions.get(key) ?? 0) > Date.now()) throw missing();
  const s = await chain.readSession(sessionId);
  if (!s) {
    unknownSessions.set(key, Date.now() + NEGATIVE_CACHE_MS);
    if (unknownSessions.size > 10_000) unknownSessions.delete(unknownSessions.keys().next().value as string);
    throw missing();
  }
  if (s.gateway.toLowerCase() !== chain.gateway.toLowerCase()) {
    throw new BaseError("FORBIDDEN", "the session is opened for another gateway", {
      details: { sessionId, gateway: chain.gateway },
    });
  }
  const snap = await c.env.SESSION.get(c.env.SESSION.idFromName(sessionId)).snapshot();
  return c.json(
    {
      sessionId,
      client: s.client,
      gateway: s.gateway,
      deposit: s.deposit.toString(),
      settled: s.settled.toString(),
      charged: snap?.charged ?? s.settled.toString(),
      // Charges given up unsettled (their validators gone): never charged to the client.
      released: snap?.released ?? "0",
      // Of those, charges the client never signed a voucher for (results it did not get).
      unacknowledged: snap?.unacknowledged ?? "0",
      expiry: s.expiry,
    },
    201,
  );
});

/** The session id in a path: 0x + 64 hex digits, lower-cased. */
function sessionParam(raw: string): `0x${string}` {
  const parsed = v.safeParse(Bytes32, raw);
  if (!parsed.success) throw new BaseError("INVALID_INPUT", "the session id must be 0x + 64 hex digits");
  return parsed.output;
}

/**
 * A voucher posted on its own: the client signs exactly what it received once nothing is in
 * flight, so that the last charges settle even when the vouchers that rode on its requests
 * counted a request that then failed. Checked like every voucher (the session's client
 * signed it, within the deposit, before expiry) and kept; answers the session's standing.
 */
sessionRoutes.post("/v1/sessions/:sessionId/vouchers", async (c) => {
  const sessionId = sessionParam(c.req.param("sessionId"));
  const { cumulativeAmount, signature } = await readBody(c.req.raw, SessionVoucher, JSON_BODY);
  const session = c.env.SESSION.get(c.env.SESSION.idFromName(sessionId));
  const standing = unwrap(await session.voucher(sessionId, cumulativeAmount, signature));
  return c.json({ sessionId, cumulativeAmount, ...standing }, 201);
});

const StreamQuery = v.object({ subnet: SubnetId });

/**
 * A session stream (WebSocket): many pipelined requests on one socket, paid from the
 * session with vouchers sent on it, validated in batches. Served by the Subnet shard the
 * session id hashes to (with one shard, the subnet's only one).
 */
sessionRoutes.get("/v1/sessions/:sessionId/stream", async (c) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") {
    throw new BaseError("BAD_REQUEST", "this path expects a WebSocket upgrade");
  }
  const sessionId = sessionParam(c.req.param("sessionId"));
  const { subnet } = readQuery(c.req.url, StreamQuery);
  const config = configOf(c.env);
  const catalog = await loadCatalog(config.REGISTRY_URLS);
  if (!catalog.subnets.has(subnet)) {
    throw new BaseError("SUBNET_NOT_FOUND", `subnet ${subnet} is not registered`, { details: { subnet } });
  }
  const shard = shardOf(sessionId, config.SUBNET_SHARDS);
  const url = new URL(c.req.url);
  url.pathname = `/v1/sessions/${sessionId}/stream`;
  return c.env.SUBNET.get(c.env.SUBNET.idFromName(`${subnet}:${shard}`)).fetch(new Request(url, c.req.raw));
});

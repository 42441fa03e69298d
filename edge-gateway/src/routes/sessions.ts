import { BaseError, Bytes32 } from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf } from "../env.ts";
import { type AppEnv, jsonBody } from "../http.ts";

export const sessionRoutes = new Hono<AppEnv>();

const RegisterSession = v.object({ sessionId: Bytes32 });

/** Registers a session opened on chain: checks it names this gateway and reports its balance. */
sessionRoutes.post("/v1/sessions", async (c) => {
  const { sessionId } = await jsonBody(c, RegisterSession);
  const chain = chainOf(configOf(c.env));
  const s = await chain.readSession(sessionId);
  if (!s) throw new BaseError("NOT_FOUND", "no such session on chain", { details: { sessionId } });
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
      expiry: s.expiry,
    },
    201,
  );
});

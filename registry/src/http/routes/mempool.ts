import {
  Bytes32,
  CompletionRequest,
  idToBytes32,
  PreprocessRequest,
  RequestId,
  readBody,
  tokenOfAuthorization,
} from "@ncn/protocol";
import { Hono } from "hono";
import * as v from "valibot";
import { RegistryError } from "../../errors.ts";
import type { ApiDeps } from "../api-deps.ts";
import { readParams } from "../read-params.ts";

const MempoolSubmission = v.variant("phase", [
  v.object({ phase: v.literal(0), request: PreprocessRequest }),
  v.object({ phase: v.literal(1), request: CompletionRequest }),
]);

/**
 * The mempool: an authenticated gateway posts validation work once and every validator
 * attests it; the attestations are collected (from any node) under the request id.
 */
export function mempoolRoutes(deps: ApiDeps) {
  return new Hono()
    .post("/v1/mempool", async (c) => {
      const header = c.req.header("authorization");
      const gateway = await deps.gatewayAuth.authenticate(header);
      const work = await readBody(c.req.raw, MempoolSubmission);
      const token = tokenOfAuthorization(header);
      const { id, gossipPeers, entry } = await deps.mempool.submit(work, { token, gateway });
      return c.json({ id, gossipPeers, status: entry.status }, 202);
    })
    .get("/v1/mempool", (c) => c.json({ items: deps.mempool.list() }))
    .get("/v1/mempool/:id", (c) => {
      const { id } = readParams(c, v.object({ id: Bytes32 }));
      const entry = deps.mempool.get(id);
      if (!entry) throw new RegistryError("NOT_FOUND", `no mempool item ${id}`);
      return c.json(entry);
    })
    .get("/v1/attestations/:requestId", (c) => {
      const { requestId } = readParams(c, v.object({ requestId: v.union([Bytes32, RequestId]) }));
      const id = /^0x[0-9a-f]{64}$/i.test(requestId) ? requestId.toLowerCase() : idToBytes32(requestId);
      return c.json({ requestId: id, attestations: deps.attestations.list(id) });
    });
}

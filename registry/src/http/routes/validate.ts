import {
  BatchCompletionRequest,
  CompletionRequest,
  PreprocessRequest,
  readBody,
  SettlementRequest,
  StreamBatchRequest,
} from "@ncn/protocol";
import { Hono } from "hono";
import type { ApiDeps } from "../api-deps.ts";
import { type GatewayVariables, requireGateway } from "../gateway-auth.ts";

/**
 * The validator endpoints, for authenticated gateways only (`Authorization: NCN-Gateway
 * <token>`): preprocess (phase 0), completion (phase 1), a batch of completions under one
 * Merkle root, a stream batch (one session's requests: payment and completions in one step,
 * under one Merkle root), and the `SettlementBatch` signature for `InferencePayment.settleBatch`.
 */
export function validateRoutes(deps: ApiDeps) {
  return new Hono<{ Variables: GatewayVariables }>()
    .use("/v1/validate/*", requireGateway(deps.gatewayAuth))
    .post("/v1/validate/preprocess", async (c) =>
      c.json(await deps.validation.preprocess(await readBody(c.req.raw, PreprocessRequest), c.var.gateway)),
    )
    .post("/v1/validate/completion", async (c) =>
      c.json(await deps.validation.completion(await readBody(c.req.raw, CompletionRequest), c.var.gateway)),
    )
    .post("/v1/validate/completion/batch", async (c) =>
      c.json(await deps.validation.batch(await readBody(c.req.raw, BatchCompletionRequest), c.var.gateway)),
    )
    .post("/v1/validate/stream", async (c) =>
      c.json(await deps.validation.stream(await readBody(c.req.raw, StreamBatchRequest), c.var.gateway)),
    )
    .post("/v1/validate/settlement", async (c) =>
      c.json(await deps.validation.settlement(await readBody(c.req.raw, SettlementRequest), c.var.gateway)),
    );
}

import {
  BatchCompletionRequest,
  CompletionRequest,
  PreprocessRequest,
  SettlementRequest,
  StreamBatchRequest,
} from "@ncn/protocol";
import { Hono } from "hono";
import type { ApiDeps } from "../api-deps.ts";
import { readBody } from "../read-body.ts";

/**
 * The validator endpoints: preprocess (phase 0), completion (phase 1), a batch of completions
 * under one Merkle root, a stream batch (one session's requests: payment and completions in one
 * step, under one Merkle root), and the `SettlementBatch` signature for `InferencePayment.settleBatch`.
 */
export function validateRoutes(deps: ApiDeps) {
  return new Hono()
    .post("/v1/validate/preprocess", async (c) =>
      c.json(await deps.validation.preprocess(await readBody(c, PreprocessRequest))),
    )
    .post("/v1/validate/completion", async (c) =>
      c.json(await deps.validation.completion(await readBody(c, CompletionRequest))),
    )
    .post("/v1/validate/completion/batch", async (c) =>
      c.json(await deps.validation.batch(await readBody(c, BatchCompletionRequest))),
    )
    .post("/v1/validate/stream", async (c) =>
      c.json(await deps.validation.stream(await readBody(c, StreamBatchRequest))),
    )
    .post("/v1/validate/settlement", async (c) =>
      c.json(await deps.validation.settlement(await readBody(c, SettlementRequest))),
    );
}

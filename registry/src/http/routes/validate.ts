import { BatchCompletionRequest, CompletionRequest, PreprocessRequest } from "@ncn/protocol";
import { Hono } from "hono";
import type { ApiDeps } from "../api-deps.ts";
import { readBody } from "../read-body.ts";

/** The validator endpoints: preprocess (phase 0), completion (phase 1) and a batch of completions. */
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
    );
}

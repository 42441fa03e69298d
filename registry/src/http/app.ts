import { errorBody } from "@ncn/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { MAX_HTTP_BODY_BYTES } from "../constants.ts";
import type { ApiDeps } from "./api-deps.ts";
import { errorResponder, notFound } from "./errors.ts";
import { agentRoutes } from "./routes/agents.ts";
import { catalogRoutes } from "./routes/catalog.ts";
import { healthRoutes } from "./routes/health.ts";
import { mempoolRoutes } from "./routes/mempool.ts";
import { recordRoutes } from "./routes/records.ts";
import { reputationRoutes } from "./routes/reputation.ts";
import { validateRoutes } from "./routes/validate.ts";
import { validatorRoutes } from "./routes/validators.ts";

/** The registry's HTTP API (served by `Bun.serve`). */
export function createApp(deps: ApiDeps) {
  const app = new Hono();
  app.use(
    "*",
    bodyLimit({
      maxSize: MAX_HTTP_BODY_BYTES,
      onError: (c) =>
        c.json(errorBody("PAYLOAD_TOO_LARGE", `body larger than ${MAX_HTTP_BODY_BYTES} bytes`), 413),
    }),
  );
  app.route("/", healthRoutes(deps));
  app.route("/", agentRoutes(deps));
  app.route("/", catalogRoutes(deps));
  app.route("/", validatorRoutes(deps));
  app.route("/", recordRoutes(deps));
  app.route("/", reputationRoutes(deps));
  app.route("/", validateRoutes(deps));
  app.route("/", mempoolRoutes(deps));
  app.onError(errorResponder(deps.log));
  app.notFound(notFound);
  return app;
}

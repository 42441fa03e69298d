import { BaseError } from "@ncn/protocol";
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { configOf } from "./env.ts";
import { type AppEnv, errorResponse } from "./http.ts";
import { RateLimiter } from "./logic/rate-limit.ts";
import { agentRoutes } from "./routes/agents.ts";
import { catalogRoutes } from "./routes/catalog.ts";
import { inferenceRoutes } from "./routes/inference.ts";
import { networkRoutes } from "./routes/network.ts";
import { openAiRoutes } from "./routes/openai.ts";
import { quoteRoutes } from "./routes/quote.ts";
import { referenceRoutes } from "./routes/reference.ts";
import { sessionRoutes } from "./routes/sessions.ts";

let limiter: RateLimiter | undefined;

export const app = new Hono<AppEnv>();

app.use("/v1/*", async (c, next) => {
  if (c.req.path === "/v1/agents/connect") return next();
  const perMinute = configOf(c.env).RATE_LIMIT_PER_MINUTE;
  if (limiter?.capacity !== perMinute) limiter = new RateLimiter(perMinute, perMinute / 60);
  // Keyed on the address Cloudflare saw (a client cannot set it); `x-forwarded-for` is
  // whatever the client wrote, so it would give every request a fresh bucket.
  const client = c.req.header("cf-connecting-ip") ?? "local";
  const r = limiter.check(client);
  if (!r.allowed) {
    c.header("retry-after", String(Math.ceil(r.retryAfterMs / 1000)));
    throw new BaseError("RATE_LIMITED", "too many requests; slow down", {
      details: { retryAfterMs: r.retryAfterMs },
    });
  }
  return next();
});

app.use("/v1/*", async (c, next) => {
  const maxSize = configOf(c.env).MAX_BODY_BYTES;
  return bodyLimit({
    maxSize,
    onError: () => {
      throw new BaseError("PAYLOAD_TOO_LARGE", `the body is larger than ${maxSize} bytes`);
    },
  })(c, next);
});

app.route("/", networkRoutes);
app.route("/", catalogRoutes);
app.route("/", quoteRoutes);
app.route("/", sessionRoutes);
app.route("/", inferenceRoutes);
app.route("/", openAiRoutes);
app.route("/", agentRoutes);
app.route("/", referenceRoutes);

app.notFound(() => errorResponse(new BaseError("NOT_FOUND", "no such route")));
app.onError((e) => errorResponse(e));

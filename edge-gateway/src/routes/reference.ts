import { Hono } from "hono";
import type { AppEnv } from "../http.ts";
import { DOCS_PAGE } from "../openapi/page.ts";
import { openApiDocument } from "../openapi/spec.ts";

/** The API reference: OpenAPI 3.1 built from the routes' schemas, and a page that renders it. */
export const referenceRoutes = new Hono<AppEnv>();

referenceRoutes.get("/openapi.json", (c) => c.json(openApiDocument()));
referenceRoutes.get("/docs", (c) => c.html(DOCS_PAGE));

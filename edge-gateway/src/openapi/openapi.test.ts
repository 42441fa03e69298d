import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Validator } from "@seriousme/openapi-schema-validator";
import Ajv2020 from "ajv/dist/2020";
import * as v from "valibot";
import { DOCS_PAGE } from "./page.ts";
import { OPERATIONS, openApiDocument } from "./spec.ts";

type Doc = {
  paths: Record<string, Record<string, { requestBody?: { content: Record<string, { schema: unknown }> } }>>;
  components: { schemas: Record<string, unknown> };
};

/** A hono route path in OpenAPI form: `/v1/inference/:id` -> `/v1/inference/{id}`. */
function openApiPath(path: string): string {
  return path.replace(/:([A-Za-z0-9_]+)(\{[^}]*\})?/g, "{$1}");
}

/**
 * The routes the gateway serves, read from its route modules (`xRoutes.get("/path", ...)`):
 * the app itself only loads in workerd, where the docs test asks it for `/openapi.json`.
 */
function servedRoutes(): string[] {
  const dir = join(import.meta.dirname, "..", "routes");
  const out: string[] = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".ts") && !f.endsWith(".test.ts"))) {
    const text = readFileSync(join(dir, file), "utf8");
    for (const m of text.matchAll(/\b\w+Routes\.(get|post|put|patch|delete)\(\s*"([^"]+)"/g))
      out.push(`${m[1]} ${openApiPath(m[2] as string)}`);
  }
  const app = readFileSync(join(import.meta.dirname, "..", "app.ts"), "utf8");
  expect(app).toContain('app.route("/", referenceRoutes);');
  return out;
}

/** Validates a body against an operation's JSON schema, with the document's components. */
function jsonSchemaValidator(doc: Doc, schema: unknown) {
  const ajv = new Ajv2020({ strict: false });
  return ajv.compile({ ...(schema as object), components: doc.components });
}

describe("the OpenAPI document", () => {
  const doc = openApiDocument() as unknown as Doc;

  test("is a valid OpenAPI 3.1 document", async () => {
    const r = await new Validator().validate(doc as never);
    expect(r.errors ?? []).toEqual([]);
    expect(r.valid).toBe(true);
  });

  test("names every route the gateway serves, and no other", () => {
    const served = new Set(servedRoutes());
    const documented = new Set(OPERATIONS.map((o) => `${o.method} ${o.path}`));
    expect([...documented].sort()).toEqual([...served].sort());
  });

  test("each example parses with the route's own schema and validates against the document", () => {
    let checked = 0;
    for (const op of OPERATIONS) {
      if (!op.body) continue;
      expect({ op: op.path, hasExample: op.example !== undefined }).toEqual({
        op: op.path,
        hasExample: true,
      });
      const parsed = v.safeParse(op.body, op.example);
      expect({ op: op.path, issues: parsed.issues?.map((i) => i.message) }).toEqual({
        op: op.path,
        issues: undefined,
      });
      const schema = doc.paths[op.path]?.[op.method]?.requestBody?.content["application/json"]?.schema;
      const validate = jsonSchemaValidator(doc, schema);
      expect({ op: op.path, ok: validate(op.example), errors: validate.errors ?? null }).toEqual({
        op: op.path,
        ok: true,
        errors: null,
      });
      // A body missing a required field is refused by both.
      const required = (schema as { required?: string[] }).required ?? [];
      for (const field of required) {
        const without = { ...(op.example as Record<string, unknown>) };
        delete without[field];
        expect({ op: op.path, field, schema: validate(without) }).toEqual({
          op: op.path,
          field,
          schema: false,
        });
        expect({ op: op.path, field, valibot: v.is(op.body, without) }).toEqual({
          op: op.path,
          field,
          valibot: false,
        });
      }
      checked++;
    }
    expect(checked).toBeGreaterThanOrEqual(9);
  });

  test("tensors take both forms in the document, as the route does", () => {
    const schema = doc.paths["/v1/inference"]?.post?.requestBody?.content["application/json"]?.schema;
    const validate = jsonSchemaValidator(doc, schema);
    const body = (x: unknown) => ({ subnet: "default", model: "tiny-mlp", inputs: { x } });
    expect(validate(body({ dtype: "float32", dims: [1], data: "AACAPw==" }))).toBe(true);
    expect(validate(body({ dtype: "float32", dims: [1], values: [1] }))).toBe(true);
    expect(validate(body({ dtype: "float32", dims: [1] }))).toBe(false);
    expect(validate(body({ dtype: "complex", dims: [1], values: [1] }))).toBe(false);
  });
});

describe("the reference page", () => {
  test("is one file that reads /openapi.json, with no script from elsewhere", () => {
    expect(DOCS_PAGE).toContain('fetch("openapi.json")');
    expect(DOCS_PAGE).not.toMatch(/<script[^>]+src=/);
    expect(DOCS_PAGE).not.toMatch(/https?:\/\//);
  });
});

// The gateway's HTTP API as OpenAPI 3.1, built from the very valibot schemas the routes parse
// their input with (and the response schemas the SDK checks), so that the reference cannot
// drift from what the gateway accepts. `openapi.test.ts` checks that every route the app
// serves is here and nothing else is, and that each example parses with the route's schema.
import {
  ChatCompletionRequest,
  EmbeddingRequest,
  EmbedRequest,
  ERROR_CODES,
  ERROR_STATUS,
  ErrorBody,
  GenerateRequest,
  InferenceRequest,
  InferenceResponse,
  OcrRequest,
  TensorInputJson,
  TensorJson,
  TensorValuesJson,
  TextCompletionRequest,
  TranscriptionForm,
} from "@ncn/protocol";
import {
  type ConversionConfig,
  type JsonSchema,
  toJsonSchema,
  toJsonSchemaDefs,
} from "@valibot/to-json-schema";
import type * as v from "valibot";
import { QuoteQuery, RegisterSession, SessionVoucher } from "../routes/bodies.ts";

type AnySchema = v.BaseSchema<unknown, unknown, v.BaseIssue<unknown>>;

export interface ApiOperation {
  method: "get" | "post" | "delete";
  /** OpenAPI form: `/v1/inference/{id}`. */
  path: string;
  tag: "network" | "catalog" | "payment" | "inference" | "openai" | "agents" | "reference";
  summary: string;
  description?: string;
  /** The JSON body the route parses (`readBody`). */
  body?: AnySchema;
  /** A multipart form body (its file field named `file`). */
  form?: AnySchema;
  /** The query the route parses. */
  query?: AnySchema;
  /** Path parameters, with what they are. */
  params?: Record<string, string>;
  /** A body that the route accepts, shown in the reference and checked by the test. */
  example?: unknown;
  /** The success answer: its status, media type and schema (when there is one). */
  ok: { status: number; type: string; schema?: AnySchema; description: string };
  /** How the caller pays or proves who it is. */
  auth?: "payment" | "access" | "agent" | "stream";
}

const tensorExample = { x: { dtype: "float32", dims: [1, 4], values: [1, 2, 3, 4] } };

export const OPERATIONS: readonly ApiOperation[] = [
  {
    method: "get",
    path: "/health",
    tag: "network",
    summary: "Liveness, and whether enough validators answer to take new work",
    ok: { status: 200, type: "application/json", description: "`{ ok, status: ok|degraded, validators }`" },
  },
  {
    method: "get",
    path: "/v1/network",
    tag: "network",
    summary: "Agents and load per subnet, validators, settlement progress (fields in docs/OPERATING.md)",
    ok: { status: 200, type: "application/json", description: "The network's status" },
  },
  {
    method: "get",
    path: "/v1/gateway",
    tag: "payment",
    summary: "The gateway's chain identity: chain id, payment contract, token, its own address",
    ok: {
      status: 200,
      type: "application/json",
      description: "`{ chainId, paymentContract, token, gateway }`",
    },
  },
  {
    method: "get",
    path: "/v1/quote",
    tag: "payment",
    summary: "The price of a request and how to pay it (what a 402 carries)",
    query: QuoteQuery,
    ok: {
      status: 200,
      type: "application/json",
      description: "Price, per-token prices, payment contract and the ways to pay",
    },
  },
  {
    method: "post",
    path: "/v1/sessions",
    tag: "payment",
    summary: "Registers a prepaid session opened on chain for this gateway",
    body: RegisterSession,
    example: { sessionId: `0x${"ab".repeat(32)}` },
    ok: {
      status: 200,
      type: "application/json",
      description: "The session's deposit, what it was charged and what is left",
    },
  },
  {
    method: "post",
    path: "/v1/sessions/{sessionId}/vouchers",
    tag: "payment",
    summary: "Posts the client's cumulative voucher for what its session received",
    params: { sessionId: "The session (bytes32, 0x-prefixed hex)" },
    body: SessionVoucher,
    example: { cumulativeAmount: "1000", signature: `0x${"11".repeat(65)}` },
    ok: { status: 200, type: "application/json", description: "The voucher's standing" },
  },
  {
    method: "get",
    path: "/v1/sessions/{sessionId}/stream",
    tag: "payment",
    summary: "A session stream: one WebSocket, many pipelined requests validated in batches",
    description:
      "Upgrade to a WebSocket; the frames are `protocol/src/stream.ts` (challenge, auth, infer, result, voucher).",
    params: { sessionId: "The session (bytes32, 0x-prefixed hex)" },
    auth: "stream",
    ok: { status: 101, type: "websocket", description: "Switching protocols" },
  },
  {
    method: "post",
    path: "/v1/inference",
    tag: "inference",
    summary: "Runs a registered ONNX model on named tensors",
    description:
      "Tensors are `{ dtype, dims, data }` (base64 of the little-endian elements) or `{ dtype, dims, values }`. With `Prefer: respond-async` (or `?wait=false`) the answer is 202 at once; follow it at `/v1/inference/{id}`.",
    body: InferenceRequest,
    example: { subnet: "default", model: "tiny-mlp", inputs: tensorExample },
    auth: "payment",
    ok: {
      status: 200,
      type: "application/json",
      schema: InferenceResponse,
      description: "The result, its signed receipt and the validators' attestations",
    },
  },
  {
    method: "post",
    path: "/v1/ocr",
    tag: "inference",
    summary: "Recognises the text in an image (PNG or JPEG, base64)",
    body: OcrRequest,
    example: { subnet: "ocr", image: "iVBORw0KGgoAAAANSUhEUg==" },
    auth: "payment",
    ok: {
      status: 200,
      type: "application/json",
      schema: InferenceResponse,
      description: "The lines, their boxes and scores, with the receipt",
    },
  },
  {
    method: "post",
    path: "/v1/generate",
    tag: "inference",
    summary: "Text generation with the network's own receipts; `stream: true` answers with the event stream",
    body: GenerateRequest,
    example: { subnet: "chat", model: "ncn-gpt", prompt: "In the beginning", sampling: { max_tokens: 16 } },
    auth: "payment",
    ok: {
      status: 200,
      type: "application/json",
      schema: InferenceResponse,
      description: "The text and tokens, with the receipt",
    },
  },
  {
    method: "post",
    path: "/v1/embed",
    tag: "inference",
    summary: "Sentence embeddings with the network's own receipts",
    body: EmbedRequest,
    example: { subnet: "embed", model: "ncn-glove-100d", texts: ["a cat", "a kitten"] },
    auth: "payment",
    ok: {
      status: 200,
      type: "application/json",
      schema: InferenceResponse,
      description: "One vector per text, with the receipt",
    },
  },
  {
    method: "get",
    path: "/v1/inference/{id}",
    tag: "inference",
    summary: "A request's state and, once returned, its result (`?wait=MS` waits up to 60 s)",
    params: { id: "The request id the client chose or was given" },
    auth: "access",
    ok: { status: 200, type: "application/json", schema: InferenceResponse, description: "The request" },
  },
  {
    method: "get",
    path: "/v1/inference/{id}/events",
    tag: "inference",
    summary: "The request's progress, tokens and final answer as server-sent events",
    params: { id: "The request id" },
    auth: "access",
    ok: { status: 200, type: "text/event-stream", description: "`progress`, `token` and `final` events" },
  },
  {
    method: "get",
    path: "/v1/inference/{id}/ws",
    tag: "inference",
    summary: "The same events over a WebSocket",
    params: { id: "The request id" },
    auth: "access",
    ok: { status: 101, type: "websocket", description: "Switching protocols" },
  },
  {
    method: "delete",
    path: "/v1/inference/{id}",
    tag: "inference",
    summary: "Cancels a request that has not returned; nothing is charged for it",
    params: { id: "The request id" },
    auth: "access",
    ok: {
      status: 200,
      type: "application/json",
      schema: InferenceResponse,
      description: "The request, cancelled",
    },
  },
  {
    method: "get",
    path: "/v1/models",
    tag: "catalog",
    summary: "The models the network serves (OpenAI's list shape, with each model's task and subnets)",
    ok: { status: 200, type: "application/json", description: "`{ object: list, data: [...] }`" },
  },
  {
    method: "get",
    path: "/v1/models/{model}",
    tag: "catalog",
    summary: "One model",
    params: { model: "The model's id" },
    ok: { status: 200, type: "application/json", description: "The model" },
  },
  {
    method: "get",
    path: "/v1/subnets",
    tag: "catalog",
    summary: "The subnets, their models and prices",
    ok: { status: 200, type: "application/json", description: "The subnets" },
  },
  {
    method: "post",
    path: "/v1/chat/completions",
    tag: "openai",
    summary: "OpenAI chat completions (`stream: true` for server-sent chunks ending in `[DONE]`)",
    body: ChatCompletionRequest,
    example: { model: "ncn-gpt", messages: [{ role: "user", content: "Tell me of Egypt." }], max_tokens: 16 },
    auth: "payment",
    ok: {
      status: 200,
      type: "application/json",
      description: "A `chat.completion` (or `chat.completion.chunk` events)",
    },
  },
  {
    method: "post",
    path: "/v1/completions",
    tag: "openai",
    summary: "OpenAI text completions",
    body: TextCompletionRequest,
    example: { model: "ncn-gpt", prompt: "In the beginning", max_tokens: 16 },
    auth: "payment",
    ok: { status: 200, type: "application/json", description: "A `text_completion`" },
  },
  {
    method: "post",
    path: "/v1/embeddings",
    tag: "openai",
    summary: "OpenAI embeddings (`encoding_format` float or base64)",
    body: EmbeddingRequest,
    example: { model: "ncn-glove-100d", input: ["a cat", "a kitten"] },
    auth: "payment",
    ok: { status: 200, type: "application/json", description: "A list of `embedding` objects, with usage" },
  },
  {
    method: "post",
    path: "/v1/audio/transcriptions",
    tag: "openai",
    summary: "OpenAI transcriptions: a WAV file (`file`) and the fields below, as multipart/form-data",
    form: TranscriptionForm,
    auth: "payment",
    ok: {
      status: 200,
      type: "application/json",
      description: "`{ text }` (or the text alone with `response_format=text`)",
    },
  },
  {
    method: "get",
    path: "/v1/agents/connect",
    tag: "agents",
    summary: "Where compute agents dial in (WebSocket, signed hello; frames in protocol/src/frames.ts)",
    auth: "agent",
    ok: { status: 101, type: "websocket", description: "Switching protocols" },
  },
  {
    method: "get",
    path: "/openapi.json",
    tag: "reference",
    summary: "This document",
    ok: { status: 200, type: "application/json", description: "OpenAPI 3.1" },
  },
  {
    method: "get",
    path: "/docs",
    tag: "reference",
    summary: "This document as a page to read",
    ok: { status: 200, type: "text/html", description: "The API reference" },
  },
];

/** Shared schemas, named in components.schemas and referenced from the operations. */
const COMPONENTS: Record<string, AnySchema> = {
  TensorJson,
  TensorValuesJson,
  InferenceResponse,
  ErrorBody,
};

function config(typeMode: "input" | "output"): ConversionConfig {
  return {
    target: "draft-2020-12",
    typeMode,
    // Checks that JSON Schema cannot say (a voucher's signature recovering, a tensor's byte
    // length matching its dims) are in the descriptions; the route still enforces them.
    errorMode: "ignore",
    definitions: COMPONENTS,
    overrideSchema: ({ valibotSchema }) =>
      valibotSchema === TensorInputJson
        ? { oneOf: [{ $ref: "#/$defs/TensorJson" }, { $ref: "#/$defs/TensorValuesJson" }] }
        : undefined,
  };
}

/** `#/$defs/X` references, as OpenAPI names them. */
function componentRefs<T>(schema: T): T {
  return JSON.parse(JSON.stringify(schema).replaceAll('"#/$defs/', '"#/components/schemas/')) as T;
}

function convert(schema: AnySchema, typeMode: "input" | "output"): JsonSchema {
  const out = toJsonSchema(schema, config(typeMode)) as Record<string, unknown>;
  delete out.$schema;
  delete out.$defs;
  return componentRefs(out) as JsonSchema;
}

/** The components themselves: what clients send in input form, what they get in output form. */
function components(): Record<string, JsonSchema> {
  const { definitions: _in, ...inputConfig } = config("input");
  const { definitions: _out, ...outputConfig } = config("output");
  const asInput = toJsonSchemaDefs(COMPONENTS, inputConfig);
  const asOutput = toJsonSchemaDefs(COMPONENTS, outputConfig);
  const out: Record<string, JsonSchema> = {};
  for (const name of Object.keys(COMPONENTS)) {
    out[name] = componentRefs((name === "TensorValuesJson" ? asInput[name] : asOutput[name]) as JsonSchema);
  }
  return out;
}

const AUTH_TEXT: Record<NonNullable<ApiOperation["auth"]>, string> = {
  payment:
    "Paid: an API key (`Authorization: Bearer ncn-…`), or a `payment` field (a session voucher signed by the session's client, or an escrow).",
  access:
    "The payer's EIP-712 `RequestAccess { requestId: keccak256(id), gateway }` signature in the `ncn-access` header (or `?access=`).",
  stream: "The session's client answers the stream's challenge with a `StreamAuth` signature.",
  agent: "Agents only: a signed hello from the agent's key.",
};

function errorStatuses(): number[] {
  return [...new Set(ERROR_CODES.map((c) => ERROR_STATUS[c]))].filter((s) => s >= 400).sort();
}

let cached: Record<string, unknown> | undefined;

/** The OpenAPI 3.1 document (built once per isolate). */
export function openApiDocument(): Record<string, unknown> {
  if (cached) return cached;
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = [];
    for (const [name, description] of Object.entries(op.params ?? {})) {
      parameters.push({ name, in: "path", required: true, description, schema: { type: "string" } });
    }
    if (op.query) {
      const q = convert(op.query, "input") as { properties?: Record<string, unknown>; required?: string[] };
      for (const [name, schema] of Object.entries(q.properties ?? {})) {
        parameters.push({ name, in: "query", required: (q.required ?? []).includes(name), schema });
      }
    }
    const operation: Record<string, unknown> = {
      operationId: `${op.method}${op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, ch: string | undefined) => (ch ?? "").toUpperCase())}`,
      tags: [op.tag],
      summary: op.summary,
      ...(op.description || op.auth
        ? {
            description: [op.description, op.auth ? AUTH_TEXT[op.auth] : undefined]
              .filter(Boolean)
              .join("\n\n"),
          }
        : {}),
      ...(parameters.length > 0 ? { parameters } : {}),
      responses: {
        [String(op.ok.status)]: {
          description: op.ok.description,
          ...(op.ok.type === "websocket"
            ? {}
            : {
                content: {
                  [op.ok.type]: op.ok.schema ? { schema: convert(op.ok.schema, "output") } : {},
                },
              }),
        },
        default: {
          description: `An error: ${errorStatuses().join(", ")}, with a typed code (ERROR_STATUS in protocol/src/errors.ts)`,
          content: { "application/json": { schema: { $ref: "#/components/schemas/ErrorBody" } } },
        },
      },
    };
    if (op.body) {
      operation.requestBody = {
        required: true,
        content: {
          "application/json": {
            schema: convert(op.body, "input"),
            ...(op.example === undefined ? {} : { example: op.example }),
          },
        },
      };
    } else if (op.form) {
      const fields = convert(op.form, "input") as {
        properties?: Record<string, unknown>;
        required?: string[];
      };
      operation.requestBody = {
        required: true,
        content: {
          "multipart/form-data": {
            schema: {
              type: "object",
              properties: { file: { type: "string", contentMediaType: "audio/wav" }, ...fields.properties },
              required: ["file", ...(fields.required ?? [])],
            },
          },
        },
      };
    }
    paths[op.path] = { ...paths[op.path], [op.method]: operation };
  }
  const schemas = components();
  cached = {
    openapi: "3.1.0",
    info: {
      title: "NCN Network gateway",
      version: "0.1.0",
      description:
        "Paid, validated inference: every result carries the agent's signed receipt and M-of-N validator attestations, and a failed request is never charged.",
      license: { name: "MIT", identifier: "MIT" },
    },
    tags: [
      { name: "inference", description: "The network's own API" },
      { name: "openai", description: "The OpenAI-compatible API" },
      { name: "payment", description: "Sessions, vouchers, quotes" },
      { name: "catalog", description: "Models and subnets" },
      { name: "network", description: "Health and status" },
      { name: "agents", description: "For compute agents" },
      { name: "reference", description: "This reference" },
    ],
    paths,
    components: { schemas },
  };
  return cached;
}

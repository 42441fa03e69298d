import * as v from "valibot";
import { ProtocolError } from "./errors.ts";
import { Payment } from "./inference.ts";
import { parseOrThrow } from "./parse.ts";
import { SubnetId } from "./primitives.ts";
import { GENERATE_LIMITS } from "./tasks/generate.ts";
import {
  TRANSCRIBE_LIMITS,
  TranscribeAudio,
  TranscribeLanguage,
  TranscribePrompt,
} from "./tasks/transcribe.ts";
import { bytesToBase64 } from "./tensor.ts";

/**
 * The OpenAI-compatible API's request bodies (`/v1/chat/completions`, `/v1/completions`,
 * `/v1/embeddings`), as the official clients send them. What the network cannot do is
 * refused by name (400 with `param`), never silently ignored: several choices (`n`),
 * tools, images, log probabilities, penalties. Fields the API defines as hints only
 * (`user`, `metadata`, `store`, `service_tier`) are accepted and have no effect; fields it
 * does not define are dropped.
 */

/** A model id as clients send it; the gateway looks it up in the catalog. */
const ModelName = v.pipe(v.string(), v.minLength(1, "model is required"), v.maxLength(128));

const refusedUnless = <T>(ok: (value: T) => boolean, message: string) =>
  v.optional(
    v.pipe(
      v.unknown(),
      v.check((x) => x === undefined || x === null || ok(x as T), message),
    ),
  );

/** Settings no request may change from their default (with what the network does instead). */
const UNSUPPORTED = {
  n: refusedUnless<number>((n) => n === 1, "n: only one choice per request"),
  tools: refusedUnless<unknown[]>((t) => Array.isArray(t) && t.length === 0, "tools are not supported"),
  tool_choice: refusedUnless<string>((t) => t === "none", "tool_choice is not supported"),
  functions: refusedUnless<unknown[]>(
    (f) => Array.isArray(f) && f.length === 0,
    "functions are not supported",
  ),
  logprobs: refusedUnless<boolean>((l) => l === false, "logprobs are not supported"),
  top_logprobs: refusedUnless<number>((n) => n === 0, "top_logprobs is not supported"),
  presence_penalty: refusedUnless<number>((p) => p === 0, "presence_penalty is not supported (only 0)"),
  frequency_penalty: refusedUnless<number>((p) => p === 0, "frequency_penalty is not supported (only 0)"),
  logit_bias: refusedUnless<Record<string, number>>(
    (b) => typeof b === "object" && Object.keys(b).length === 0,
    "logit_bias is not supported",
  ),
  response_format: refusedUnless<{ type?: unknown }>(
    (f) => typeof f === "object" && f.type === "text",
    "response_format: only text",
  ),
  echo: refusedUnless<boolean>((e) => e === false, "echo is not supported"),
  best_of: refusedUnless<number>((n) => n === 1, "best_of: only 1"),
  suffix: refusedUnless<string>((s) => s === "", "suffix is not supported"),
};

/** A text part of a message's content; other parts (images, audio, files) are refused. */
const ContentPart = v.variant(
  "type",
  [v.object({ type: v.literal("text"), text: v.string() })],
  "only text content parts are supported",
);

/** A message: `developer` is read as `system`; tool and function messages are refused. */
export const OpenAiChatMessage = v.object({
  role: v.picklist(
    ["system", "developer", "user", "assistant"],
    "role must be system, developer, user or assistant (tool messages are not supported)",
  ),
  content: v.union(
    [v.string(), v.pipe(v.array(ContentPart), v.maxLength(GENERATE_LIMITS.messages))],
    "content must be a string or text parts",
  ),
  name: v.optional(v.pipe(v.string(), v.maxLength(64))),
});
export type OpenAiChatMessage = v.InferOutput<typeof OpenAiChatMessage>;

const Stop = v.optional(
  v.nullable(
    v.union([
      v.pipe(v.string(), v.minLength(1), v.maxLength(GENERATE_LIMITS.stopChars)),
      v.pipe(
        v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(GENERATE_LIMITS.stopChars))),
        v.maxLength(GENERATE_LIMITS.stops, `at most ${GENERATE_LIMITS.stops} stop strings`),
      ),
    ]),
  ),
);

const MaxTokens = v.optional(
  v.nullable(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(GENERATE_LIMITS.maxTokens))),
);

/**
 * The network's own fields, which OpenAI clients send as extra body fields: which subnet
 * serves the model (else the cheapest offering it), and a payment the client signed itself
 * (else the API key in `Authorization` pays).
 */
const NCN_EXTENSIONS = {
  subnet: v.optional(SubnetId),
  payment: v.optional(Payment),
  timeoutMs: v.optional(v.pipe(v.number(), v.integer(), v.minValue(100), v.maxValue(600_000))),
};

/** The sampling settings chat and text completions share. */
const Sampling = {
  max_tokens: MaxTokens,
  temperature: v.optional(
    v.nullable(v.pipe(v.number(), v.minValue(0), v.maxValue(GENERATE_LIMITS.temperature))),
  ),
  top_p: v.optional(v.nullable(v.pipe(v.number(), v.gtValue(0, "top_p must be above 0"), v.maxValue(1)))),
  seed: v.optional(v.nullable(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff)))),
  stop: Stop,
  stream: v.optional(v.nullable(v.boolean())),
  stream_options: v.optional(v.nullable(v.object({ include_usage: v.optional(v.boolean()) }))),
  user: v.optional(v.string()),
  ...NCN_EXTENSIONS,
};

export const ChatCompletionRequest = v.object({
  model: ModelName,
  messages: v.pipe(
    v.array(OpenAiChatMessage),
    v.minLength(1, "messages must not be empty"),
    v.maxLength(GENERATE_LIMITS.messages, `at most ${GENERATE_LIMITS.messages} messages`),
  ),
  max_completion_tokens: MaxTokens,
  ...Sampling,
  ...UNSUPPORTED,
});
export type ChatCompletionRequest = v.InferOutput<typeof ChatCompletionRequest>;

/** A text completion: one prompt string (token-id prompts and prompt lists are refused). */
export const TextCompletionRequest = v.object({
  model: ModelName,
  prompt: v.pipe(
    v.string("prompt must be one string"),
    v.minLength(1, "prompt is empty"),
    v.maxLength(GENERATE_LIMITS.promptChars),
  ),
  ...Sampling,
  ...UNSUPPORTED,
});
export type TextCompletionRequest = v.InferOutput<typeof TextCompletionRequest>;

/** Embeddings of one string or a list of strings (token-id inputs are refused). */
export const EmbeddingRequest = v.object({
  model: ModelName,
  input: v.union(
    [v.string(), v.array(v.string())],
    "input must be a string or an array of strings (token ids are not supported)",
  ),
  encoding_format: v.optional(v.picklist(["float", "base64"], "encoding_format must be float or base64")),
  dimensions: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
  user: v.optional(v.string()),
  ...NCN_EXTENSIONS,
});
export type EmbeddingRequest = v.InferOutput<typeof EmbeddingRequest>;

/** Token counts of a response, as the API reports them. */
export interface OpenAiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** How OpenAI-compatible clients list models (`GET /v1/models`'s `data`). */
export interface OpenAiModel {
  id: string;
  object: "model";
  created: number;
  owned_by: string;
}

/**
 * `POST /v1/audio/transcriptions`'s multipart fields other than `file`, as the official
 * clients send them (every value a string). Timestamps and `verbose_json` need a model
 * that emits them and are refused by name; `temperature` other than 0 is refused (decoding
 * is greedy, which is what validators re-check).
 */
export const TranscriptionForm = v.object({
  model: ModelName,
  response_format: v.optional(v.picklist(["json", "text"], "response_format must be json or text")),
  language: v.optional(TranscribeLanguage),
  prompt: v.optional(TranscribePrompt),
  temperature: v.optional(v.picklist(["0", "0.0"], "temperature must be 0: decoding is greedy")),
  subnet: v.optional(SubnetId),
  timeoutMs: v.optional(
    v.pipe(v.string(), v.regex(/^\d{3,6}$/), v.transform(Number), v.minValue(100), v.maxValue(600_000)),
  ),
});
export type TranscriptionForm = v.InferOutput<typeof TranscriptionForm>;

/** Bytes of a transcription upload beyond the WAV file: the other fields and multipart framing. */
const FORM_OVERHEAD = 64 * 1024;

/** The largest `/v1/audio/transcriptions` body accepted before it is read. */
export const MAX_TRANSCRIPTION_BODY = TRANSCRIBE_LIMITS.wavBytes + FORM_OVERHEAD;

/** A parsed transcription upload: the fields and the WAV file as base64 (the task's `audio`). */
export interface TranscriptionUpload {
  form: TranscriptionForm;
  audio: string;
}

/**
 * Reads a `/v1/audio/transcriptions` multipart body: the `file` (a WAV of at most
 * `TRANSCRIBE_LIMITS.wavBytes`) and the fields of `TranscriptionForm`. A missing or
 * oversized file, a field the route cannot honour or a body that is not multipart throws
 * `INVALID_INPUT` / `PAYLOAD_TOO_LARGE` naming the field.
 *
 * @example const { form, audio } = await readTranscriptionUpload(request);
 */
export async function readTranscriptionUpload(request: Request): Promise<TranscriptionUpload> {
  const length = Number(request.headers.get("content-length") ?? "0");
  if (length > MAX_TRANSCRIPTION_BODY) {
    throw new ProtocolError("PAYLOAD_TOO_LARGE", `the upload is over ${MAX_TRANSCRIPTION_BODY} bytes`, {
      details: { field: "file", limits: TRANSCRIBE_LIMITS },
    });
  }
  let data: FormData;
  try {
    data = await request.formData();
  } catch {
    throw new ProtocolError("BAD_REQUEST", "send the body as multipart/form-data with a file field");
  }
  const fields: Record<string, string> = {};
  for (const [key, value] of data.entries()) {
    if (key === "timestamp_granularities[]" || key === "timestamp_granularities") {
      throw new ProtocolError("INVALID_INPUT", "timestamps are not supported", { details: { field: key } });
    }
    if (key !== "file" && typeof value === "string" && !(key in fields)) fields[key] = value;
  }
  const form = parseOrThrow(TranscriptionForm, fields, "form");
  const file: unknown = data.get("file");
  if (!(file instanceof Blob)) {
    throw new ProtocolError("INVALID_INPUT", "file is required: a WAV file of 16-bit PCM", {
      details: { field: "file" },
    });
  }
  if (file.size > TRANSCRIBE_LIMITS.wavBytes) {
    throw new ProtocolError("PAYLOAD_TOO_LARGE", `file is over ${TRANSCRIBE_LIMITS.wavBytes} bytes`, {
      details: { field: "file", limits: TRANSCRIBE_LIMITS },
    });
  }
  const audio = bytesToBase64(new Uint8Array(await file.arrayBuffer()));
  return { form, audio: parseOrThrow(TranscribeAudio, audio, "file") };
}

import { ProtocolError } from "./errors.ts";
import type { OcrLine, TaskInput, TaskResult } from "./inference.ts";
import { keccakHex } from "./keccak.ts";
import { type EmbedResult, embeddingBytes } from "./tasks/embed.ts";
import type { GeneratePrompt, GenerateResult, SamplingParams } from "./tasks/generate.ts";
import type { TranscribeResult, TranscribeTaskInput } from "./tasks/transcribe.ts";
import { base64ToBytes, encodeTensorFrame, type Tensor, tensorMapFromJson } from "./tensor.ts";

/**
 * Canonical JSON: object keys sorted by code point, no whitespace, integers and
 * finite numbers only. Two parties that hold equal values produce equal bytes.
 */
export function canonicalJson(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "boolean":
      return value ? "true" : "false";
    case "number":
      if (!Number.isFinite(value))
        throw new ProtocolError("INVALID_INPUT", "non-finite number in canonical JSON");
      return JSON.stringify(value);
    case "string":
      return JSON.stringify(value);
    case "bigint":
      return JSON.stringify(value.toString());
    case "object": {
      if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
      const obj = value as Record<string, unknown>;
      const keys = Object.keys(obj)
        .filter((k) => obj[k] !== undefined)
        .sort();
      return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
    }
    default:
      throw new ProtocolError("INVALID_INPUT", `cannot encode ${typeof value} in canonical JSON`);
  }
}

/** keccak256 of the canonical JSON of a value. */
export function hashCanonical(value: unknown): `0x${string}` {
  return keccakHex(new TextEncoder().encode(canonicalJson(value)));
}

/**
 * Hash of a set of named tensors: keccak256 of their binary frame with names sorted,
 * so the hash depends on names, dtypes, dims and bytes only.
 */
export function hashTensors(tensors: Record<string, Tensor>): `0x${string}` {
  const sorted: Record<string, Tensor> = {};
  for (const name of Object.keys(tensors).sort()) {
    const t = tensors[name];
    if (t) sorted[name] = t;
  }
  return keccakHex(encodeTensorFrame(sorted));
}

/** Hash of raw input bytes (an image). */
export function hashBytes(bytes: Uint8Array): `0x${string}` {
  return keccakHex(bytes);
}

/**
 * Hash of OCR output: canonical JSON of the lines with text, and box and score rounded
 * (boxes to whole pixels, scores to 3 decimals) so that the last float digits, which
 * differ across hardware, do not change the hash.
 */
export function hashOcrLines(lines: readonly OcrLine[]): `0x${string}` {
  return hashCanonical(
    lines.map((l) => ({
      text: l.text,
      score: Math.round(l.score * 1000) / 1000,
      box: l.box.map(([x, y]) => [Math.round(x), Math.round(y)]),
    })),
  );
}

/** The receipt's `inputHash` of an embedding task: the texts, in order. */
export function hashEmbedInput(texts: readonly string[]): `0x${string}` {
  return hashCanonical({ kind: "embed", texts });
}

/**
 * The receipt's `outputHash` of an embedding result: its dims, token count and the
 * vectors' bytes (so two base64 spellings of the same floats hash alike). Exact: it binds
 * what the agent returned; a validator compares recomputed vectors by cosine
 * (`verifyEmbeddings` in `@ncn/runtime`), never by this hash.
 */
export function hashEmbedResult(result: EmbedResult): `0x${string}` {
  const bytes = new Uint8Array(result.embeddings.length * result.dims * 4);
  for (const [i, e] of result.embeddings.entries())
    bytes.set(embeddingBytes(e, result.dims), i * result.dims * 4);
  return hashCanonical({
    kind: "embed",
    dims: result.dims,
    promptTokens: result.promptTokens,
    vectors: keccakHex(bytes),
  });
}

/**
 * Hash of generated token ids: keccak256 of each id as 4 big-endian bytes, so the hash
 * names the tokens themselves, not the text they happen to decode to.
 */
export function hashTokenIds(ids: readonly number[]): `0x${string}` {
  const bytes = new Uint8Array(ids.length * 4);
  const view = new DataView(bytes.buffer);
  for (const [i, id] of ids.entries()) view.setUint32(i * 4, id, false);
  return keccakHex(bytes);
}

/**
 * The input hash of a `generate` task: the prompt (by its own hash) and every sampling
 * parameter, seed included, so a receipt names exactly what the agent was asked to run.
 */
export function hashGenerateInput(prompt: GeneratePrompt, sampling: SamplingParams): `0x${string}` {
  return hashCanonical({ kind: "generate", prompt: hashCanonical(prompt), sampling });
}

/** The output hash of a `generate` result: the token ids (by `hashTokenIds`), the text, the counts and why it ended. */
export function hashGenerateResult(result: GenerateResult): `0x${string}` {
  return hashCanonical({
    kind: "generate",
    tokens: hashTokenIds(result.tokens),
    text: result.text,
    prompt_tokens: result.prompt_tokens,
    completion_tokens: result.completion_tokens,
    finish_reason: result.finish_reason,
  });
}

/**
 * The input hash of a `transcribe` task: the WAV file (by the hash of its bytes) and the
 * language and prompt hints as given.
 */
export function hashTranscribeInput(
  input: Pick<TranscribeTaskInput, "audio" | "language" | "prompt">,
): `0x${string}` {
  return hashCanonical({
    kind: "transcribe",
    audio: hashBytes(base64ToBytes(input.audio)),
    language: input.language,
    prompt: input.prompt,
  });
}

/** The output hash of a `transcribe` result: the token ids (by `hashTokenIds`), the text and the audio's length. */
export function hashTranscribeResult(result: TranscribeResult): `0x${string}` {
  return hashCanonical({
    kind: "transcribe",
    tokens: hashTokenIds(result.tokens),
    text: result.text,
    audio_seconds: result.audio_seconds,
  });
}

/**
 * The receipt's `inputHash` of a task: tensors by `hashTensors`, an OCR image by its
 * bytes, texts to embed by `hashEmbedInput`, a generate task by `hashGenerateInput`, audio
 * by `hashTranscribeInput`.
 */
export function hashTaskInput(input: TaskInput): `0x${string}` {
  switch (input.kind) {
    case "tensor":
      return hashTensors(tensorMapFromJson(input.inputs));
    case "ocr":
      return hashBytes(base64ToBytes(input.image));
    case "embed":
      return hashEmbedInput(input.texts);
    case "generate":
      return hashGenerateInput(input.prompt, input.sampling);
    case "transcribe":
      return hashTranscribeInput(input);
  }
}

/**
 * The receipt's `outputHash` of a result: tensors by `hashTensors`, OCR lines by
 * `hashOcrLines`, embeddings by `hashEmbedResult`, generated tokens by `hashGenerateResult`,
 * a transcript by `hashTranscribeResult`.
 */
export function hashTaskResult(result: TaskResult): `0x${string}` {
  switch (result.kind) {
    case "tensor":
      return hashTensors(tensorMapFromJson(result.outputs));
    case "ocr":
      return hashOcrLines(result.lines);
    case "embed":
      return hashEmbedResult(result);
    case "generate":
      return hashGenerateResult(result);
    case "transcribe":
      return hashTranscribeResult(result);
  }
}

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import * as v from "valibot";
import { TaskFrame } from "../frames.ts";
import { hashTaskInput, hashTaskResult } from "../hashing.ts";
import { TaskInput, TaskResult } from "../inference.ts";
import { decodeEmbedding, EMBED_LIMITS, EmbedResult, EmbedTaskInput, encodeEmbedding } from "./embed.ts";

const input = (texts: unknown) => ({ kind: "embed", model: "ncn-glove-100d", texts });
const result = (vectors: Float32Array[], promptTokens = 3) => ({
  kind: "embed" as const,
  dims: vectors[0]?.length ?? 0,
  embeddings: vectors.map(encodeEmbedding),
  promptTokens,
});

describe("embed task input", () => {
  test("takes 1 to 256 texts of 1 to 16,384 characters", () => {
    expect(v.is(EmbedTaskInput, input(["one"]))).toBe(true);
    expect(v.is(EmbedTaskInput, input(Array(EMBED_LIMITS.texts).fill("x")))).toBe(true);
    expect(v.is(EmbedTaskInput, input(["x".repeat(EMBED_LIMITS.textChars)]))).toBe(true);
    expect(v.is(TaskInput, input(["one", "two"]))).toBe(true);
  });

  test("refuses no texts, an empty text, too many, too long, too much in all", () => {
    const refused = [
      [],
      [""],
      Array(EMBED_LIMITS.texts + 1).fill("x"),
      ["x".repeat(EMBED_LIMITS.textChars + 1)],
      Array(EMBED_LIMITS.texts).fill("x".repeat(EMBED_LIMITS.totalChars / EMBED_LIMITS.texts + 1)),
      [42],
    ];
    for (const texts of refused) expect(v.is(EmbedTaskInput, input(texts))).toBe(false);
  });

  test("an embed task frame carries the texts and the model's parts", () => {
    const model = {
      id: "ncn-glove-100d",
      sha256: `0x${"ab".repeat(32)}`,
      size: 300,
      runtime: "onnx",
      sources: ["npm:@ncn/runtime/assets/ncn-glove-100d.text-embedding"],
      inputs: [],
      outputs: [],
    };
    const frame = {
      type: "task",
      taskId: "r1:0",
      requestId: "r1",
      subnet: "default",
      model,
      price: "1",
      deadline: 5,
      kind: "embed",
      texts: ["a", "b"],
      pipeline: [model],
    };
    expect(v.is(TaskFrame, frame)).toBe(true);
    expect(v.is(TaskFrame, { ...frame, texts: [] })).toBe(false);
  });
});

describe("embed result", () => {
  test("vectors round-trip exactly through the wire encoding", () => {
    fc.assert(
      fc.property(fc.float32Array({ minLength: 1, maxLength: 64, noDefaultInfinity: true }), (values) => {
        const back = decodeEmbedding(encodeEmbedding(values), values.length);
        expect(Buffer.from(back.buffer)).toEqual(Buffer.from(values.buffer));
      }),
    );
    expect(encodeEmbedding(new Float32Array([1]))).toBe("AACAPw==");
  });

  test("every vector must have dims components", () => {
    const ok = result([new Float32Array([0.6, 0.8]), new Float32Array([1, 0])]);
    expect(v.is(EmbedResult, ok)).toBe(true);
    expect(v.is(TaskResult, ok)).toBe(true);
    const short = { ...ok, embeddings: [ok.embeddings[0], encodeEmbedding(new Float32Array([1]))] };
    const parsed = v.safeParse(EmbedResult, short);
    expect(parsed.success).toBe(false);
    expect(parsed.issues?.[0] && v.getDotPath(parsed.issues[0])).toBe("embeddings");
    expect(v.is(EmbedResult, { ...ok, embeddings: [] })).toBe(false);
    expect(v.is(EmbedResult, { ...ok, promptTokens: -1 })).toBe(false);
    expect(() => decodeEmbedding(encodeEmbedding(new Float32Array([1])), 2)).toThrow("dims");
  });
});

describe("embed hashes", () => {
  test("the input hash covers every text and their order", () => {
    const h = hashTaskInput(v.parse(TaskInput, input(["a", "b"])));
    expect(hashTaskInput(v.parse(TaskInput, input(["b", "a"])))).not.toBe(h);
    expect(hashTaskInput(v.parse(TaskInput, input(["a", "b "])))).not.toBe(h);
    expect(hashTaskInput(v.parse(TaskInput, input(["a", "b"])))).toBe(h);
  });

  test("the output hash covers every bit of every vector and the token count", () => {
    const a = new Float32Array([0.6, 0.8]);
    const h = hashTaskResult(result([a]));
    const flipped = new Float32Array(a);
    new Uint32Array(flipped.buffer)[1] = (new Uint32Array(flipped.buffer)[1] ?? 0) ^ 1;
    expect(hashTaskResult(result([flipped]))).not.toBe(h);
    expect(hashTaskResult(result([a], 4))).not.toBe(h);
    expect(hashTaskResult(result([a, a]))).not.toBe(hashTaskResult(result([a])));
  });

  test("two base64 spellings of the same floats hash alike", () => {
    // The last character before the padding has unused low bits: "w" and "x" decode alike.
    const canonical = result([new Float32Array([1])]);
    const other = { ...canonical, embeddings: ["AACAPx=="] };
    expect(decodeEmbedding("AACAPx==", 1)[0]).toBe(1);
    expect(hashTaskResult(other)).toBe(hashTaskResult(canonical));
  });
});

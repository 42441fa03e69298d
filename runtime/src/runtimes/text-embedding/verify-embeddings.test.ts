import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeEmbedding, type EmbedResult, encodeEmbedding } from "@ncn/protocol";
import { ModelStore } from "../../store/model-store.ts";
import { STRICT_SOURCE_POLICY } from "../../store/source-policy.ts";
import { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { ncnGloveTask } from "./builtin-models.ts";
import { type Embedded, TextEmbeddingRuntime } from "./text-embedding-runtime.ts";
import { DEFAULT_MIN_COSINE, verifyEmbeddings } from "./verify-embeddings.ts";

let dir: string;
let onnx: OnnxRuntime;
let runtime: TextEmbeddingRuntime;
let store: ModelStore;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-verify-embeddings-"));
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes: 100 * 1024 * 1024,
    ttlMs: 3_600_000,
    sources: STRICT_SOURCE_POLICY,
  });
  runtime = new TextEmbeddingRuntime({ onnx, loadModel: (m) => store.load(m) });
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

const TEXTS = ["He plays the guitar in a rock band.", "The central bank raised interest rates."];

async function embed(texts: string[]): Promise<Embedded> {
  const task = ncnGloveTask();
  return runtime.embed(task.model, task.pipeline, texts, {
    fetchModel: async (m) => {
      await store.ensure(m);
    },
  });
}

/** What an agent would claim for `embedded`, with `change` applied to each vector. */
function claim(
  embedded: Embedded,
  change: (v: Float32Array, i: number) => Float32Array = (v) => v,
): EmbedResult {
  return {
    kind: "embed",
    dims: embedded.dims,
    embeddings: embedded.vectors.map((v, i) => encodeEmbedding(change(new Float32Array(v), i))),
    promptTokens: embedded.tokens.reduce((a, b) => a + b, 0),
  };
}

/** A deterministic pseudo-random stream in [-1, 1). */
function noise(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  };
}

describe("verifyEmbeddings", () => {
  test("accepts the same vectors, and vectors drifted by 1e-3 per component (hardware drift)", async () => {
    const mine = await embed(TEXTS);
    const same = verifyEmbeddings(claim(mine), mine);
    expect(same).toEqual({ ok: true, minCosine: expect.any(Number) });
    expect(same.ok && same.minCosine).toBeGreaterThan(0.999999);
    const next = noise(7);
    const drifted = verifyEmbeddings(
      claim(mine, (v) => v.map((x) => x * (1 + 1e-3 * next()))),
      mine,
    );
    expect(drifted.ok).toBe(true);
    expect(drifted.ok && drifted.minCosine).toBeGreaterThan(0.99999);
  });

  test("refuses another text's vector, or the vector of the text without its last word", async () => {
    const mine = await embed(TEXTS);
    const swapped = verifyEmbeddings(
      claim(mine, (_, i) => new Float32Array(mine.vectors[1 - i] ?? [])),
      mine,
    );
    expect(swapped).toMatchObject({ ok: false, reason: "diverged", index: 0 });
    const truncated = await embed(TEXTS.map((t) => t.replace(/ \S+$/, ".")));
    const verdict = verifyEmbeddings({ ...claim(truncated), promptTokens: claim(mine).promptTokens }, mine);
    expect(verdict).toMatchObject({ ok: false, reason: "diverged", index: 0 });
    expect(!verdict.ok && verdict.cosine).toBeLessThan(DEFAULT_MIN_COSINE);
  });

  test("refuses a wrong count, dims, token count, scale or a NaN, each with its reason", async () => {
    const mine = await embed(TEXTS);
    const good = claim(mine);
    const cases: [EmbedResult, string][] = [
      [{ ...good, embeddings: good.embeddings.slice(0, 1) }, "count_mismatch"],
      [
        {
          ...good,
          dims: 50,
          embeddings: good.embeddings.map((e) => encodeEmbedding(decodeEmbedding(e, 100).slice(0, 50))),
        },
        "dims_mismatch",
      ],
      [{ ...good, promptTokens: good.promptTokens + 1 }, "tokens_mismatch"],
      [claim(mine, (v) => v.map((x) => x * 2)), "scale_mismatch"],
      [claim(mine, (v) => v.map((x, d) => (d === 3 ? Number.NaN : x))), "not_finite"],
      [{ ...good, embeddings: [good.embeddings[0] ?? "", "AAAA"] }, "malformed"],
    ];
    for (const [claimed, reason] of cases)
      expect(verifyEmbeddings(claimed, mine)).toMatchObject({ ok: false, reason });
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  decodeEmbedding,
  hashEmbedInput,
  hashEmbedResult,
  type ModelDescriptor,
  type ModelId,
} from "@ncn/protocol";
import { measureQuality, QUALITY_TRIPLES } from "../../../models/ncn-glove/quality.ts";
import { RuntimeError } from "../../errors.ts";
import type { RuntimeContext } from "../../runtime.ts";
import { ModelStore } from "../../store/model-store.ts";
import { resolveNpmSource } from "../../store/npm-source.ts";
import { STRICT_SOURCE_POLICY } from "../../store/source-policy.ts";
import { lookupEncoderBytes } from "../../testing/lookup-encoder.ts";
import { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { sha256Hex } from "../onnx/sha256.ts";
import {
  NCN_GLOVE,
  NCN_GLOVE_ENCODER,
  NCN_GLOVE_MANIFEST,
  NCN_GLOVE_TOKENIZER,
  ncnGloveTask,
} from "./builtin-models.ts";
import { TEXT_EMBEDDING_FORMAT, type TextEmbeddingManifest, textEmbeddingManifestBytes } from "./manifest.ts";
import { TextEmbeddingRuntime } from "./text-embedding-runtime.ts";

let dir: string;
let onnx: OnnxRuntime;
let store: ModelStore;
let runtime: TextEmbeddingRuntime;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-text-embedding-"));
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes: 200 * 1024 * 1024,
    ttlMs: 3_600_000,
    sources: { ...STRICT_SOURCE_POLICY, localDirs: [dir] },
  });
  runtime = new TextEmbeddingRuntime({ onnx, loadModel: (m) => store.load(m) });
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

const context = (extra: Partial<RuntimeContext> = {}): RuntimeContext => ({
  ...extra,
  fetchModel: async (m) => {
    await store.ensure(m);
  },
});

async function embed(texts: string[], task = ncnGloveTask()): Promise<Float32Array[]> {
  return (await runtime.embed(task.model, task.pipeline, texts, context())).vectors;
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof RuntimeError ? e.code : `untyped: ${String(e)}`;
  }
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  for (let i = 0; i < a.length; i++) dot += (a[i] ?? 0) * (b[i] ?? 0);
  return dot;
}

/** A model file in the test folder, with its descriptor. */
function fileModel(
  id: string,
  bytes: Uint8Array,
  io: Pick<ModelDescriptor, "inputs" | "outputs"> = { inputs: [], outputs: [] },
): ModelDescriptor {
  const path = join(dir, `${id}.bin`);
  writeFileSync(path, bytes);
  return {
    id: id as ModelId,
    sha256: sha256Hex(bytes),
    size: bytes.byteLength,
    runtime: "onnx",
    sources: [`file:${path}`],
    ...io,
  };
}

function manifestModel(id: string, manifest: TextEmbeddingManifest): ModelDescriptor {
  return fileModel(id, textEmbeddingManifestBytes(manifest));
}

describe("ncn-glove-100d, the built-in model", () => {
  test("its descriptors match the files shipped in the package", async () => {
    for (const m of [NCN_GLOVE, NCN_GLOVE_ENCODER, NCN_GLOVE_TOKENIZER]) {
      const path = resolveNpmSource(m.sources[0] ?? "");
      expect(path).not.toBeNull();
      const bytes = await Bun.file(path ?? "").bytes();
      expect(bytes.byteLength).toBe(m.size);
      expect(sha256Hex(bytes)).toBe(m.sha256);
    }
    expect(sha256Hex(textEmbeddingManifestBytes(NCN_GLOVE_MANIFEST))).toBe(NCN_GLOVE.sha256);
  });

  test("related sentences are closer than unrelated ones", async () => {
    const [guitar, guitarist, stocks] = await embed([
      "He plays the guitar in a rock band.",
      "She is a guitarist in a rock group.",
      "The stock market fell sharply today.",
    ]);
    if (!guitar || !guitarist || !stocks) throw new Error("vectors missing");
    expect(cosine(guitar, guitarist)).toBeGreaterThan(cosine(guitar, stocks) + 0.2);
    const q = await measureQuality((texts) => embed(texts));
    expect(q.ranked).toBe(QUALITY_TRIPLES.length);
    expect(q.related - q.unrelated).toBeGreaterThan(0.25);
  });

  test("a task's result is one unit vector per text, with the hashes of what it returned", async () => {
    const texts = ["Validators re-run a sample of tasks.", "Agents sign receipts."];
    const run = await runtime.run({ kind: "embed", ...ncnGloveTask(), texts }, context());
    if (run.result.kind !== "embed") throw new Error(`expected embeddings, got ${run.result.kind}`);
    const { result } = run;
    expect(result.dims).toBe(100);
    expect(result.embeddings).toHaveLength(2);
    // "validators re - run a sample of tasks ." (9) + "agents sign receipts ." (4)
    expect(result.promptTokens).toBe(13);
    for (const e of result.embeddings) {
      const vector = decodeEmbedding(e, result.dims);
      expect(cosine(vector, vector)).toBeCloseTo(1, 5);
    }
    expect(run.inputHash).toBe(hashEmbedInput(texts));
    expect(run.outputHash).toBe(hashEmbedResult(result));
  });

  test("a batch gives each text the vector it gets alone, in the order given", async () => {
    // More texts than one encoder batch (32), of different lengths, so rows are padded and reordered.
    const texts = Array.from({ length: 40 }, (_, i) =>
      `${QUALITY_TRIPLES[i % QUALITY_TRIPLES.length]?.[i % 3]} ${"again ".repeat(i % 7)}`.trim(),
    );
    const together = await embed(texts);
    for (const [i, text] of texts.entries()) {
      const [alone] = await embed([text]);
      const batched = together[i];
      if (!alone || !batched) throw new Error(`vector ${i} missing`);
      let maxDiff = 0;
      for (let d = 0; d < alone.length; d++)
        maxDiff = Math.max(maxDiff, Math.abs((alone[d] ?? 0) - (batched[d] ?? 0)));
      expect(maxDiff).toBeLessThan(1e-6);
    }
  });

  test("refuses no texts, an empty text, a text without tokens and one over the token limit", async () => {
    const task = ncnGloveTask();
    const refused = [[], [""], ["ok", "   "], ["ok", "word ".repeat(NCN_GLOVE_MANIFEST.maxTokens + 1)]];
    for (const texts of refused) {
      expect(await codeOf(runtime.run({ kind: "embed", ...task, texts }, context()))).toBe("INVALID_INPUT");
    }
    const err = await runtime
      .embed(task.model, task.pipeline, ["word ".repeat(3000)], context())
      .catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.details).toEqual({ index: 0, tokens: 3000, maxTokens: 2048 });
  });

  test("unknown words count as tokens but add nothing", async () => {
    const [plain, withUnknown] = await embed(["the guitar", "the guitar zzqxvw"]);
    if (!plain || !withUnknown) throw new Error("vectors missing");
    expect(cosine(plain, withUnknown)).toBeCloseTo(1, 6);
  });
});

describe("manifests", () => {
  const good: TextEmbeddingManifest = NCN_GLOVE_MANIFEST;

  test("a manifest of another format, with a bad field or not JSON is refused", async () => {
    const bad = [
      fileModel(
        "wrong-format",
        new TextEncoder().encode(JSON.stringify({ ...good, format: "ncn-text-embedding/2" })),
      ),
      fileModel("bad-pooling", new TextEncoder().encode(JSON.stringify({ ...good, pooling: "cls" }))),
      fileModel("extra-field", new TextEncoder().encode(JSON.stringify({ ...good, extra: 1 }))),
      fileModel("not-json", new TextEncoder().encode("encoder: model.onnx")),
      NCN_GLOVE_ENCODER, // a network, not a manifest
    ];
    for (const model of bad) {
      expect(await codeOf(runtime.embed(model, [], ["text"], context()))).toBe("INVALID_INPUT");
    }
  });

  test("a manifest naming a part found nowhere is refused with MODEL_NOT_FOUND", async () => {
    const model = manifestModel("missing-encoder", { ...good, encoder: sha256Hex(new Uint8Array([1])) });
    const err = await runtime.embed(model, [], ["text"], context()).catch((e) => e);
    expect(err).toBeInstanceOf(RuntimeError);
    expect(err.code).toBe("MODEL_NOT_FOUND");
    expect(err.details.role).toBe("encoder");
  });

  test("an encoder whose width differs from the manifest's dims is refused", async () => {
    const model = manifestModel("wrong-dims", { ...good, dims: 64 });
    expect(await codeOf(runtime.embed(model, [], ["text"], context()))).toBe("INFERENCE_FAILED");
  });
});

describe("a MiniLM-style encoder: WordPiece tokenizer, token_type_ids, pooled here", () => {
  // Vocabulary and vectors small enough to check by hand.
  const vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "cat", "##s", "dog", "run"];
  const DIMS = 4;
  const matrix = new Float32Array(vocab.length * DIMS).map((_, i) => ((i * 7) % 11) - 5);
  const row = (id: number) => matrix.subarray(id * DIMS, (id + 1) * DIMS);

  function minilmStyle(): { model: ModelDescriptor; pipeline: ModelDescriptor[] } {
    const encoder = fileModel(
      "mini-encoder",
      lookupEncoderBytes({
        matrix,
        dims: DIMS,
        storage: "float32",
        sentenceEmbedding: false,
        tokenTypeIds: true,
      }),
      {
        inputs: ["input_ids", "attention_mask", "token_type_ids"].map((name) => ({
          name,
          dtype: "int64" as const,
          dims: ["batch", "sequence"],
        })),
        outputs: [{ name: "last_hidden_state", dtype: "float32", dims: ["batch", "sequence", DIMS] }],
      },
    );
    const special = (content: string) => ({
      id: vocab.indexOf(content),
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    });
    const tokenizerJson = {
      version: "1.0",
      truncation: null,
      padding: null,
      added_tokens: ["[PAD]", "[UNK]", "[CLS]", "[SEP]"].map(special),
      normalizer: {
        type: "BertNormalizer",
        clean_text: true,
        handle_chinese_chars: true,
        strip_accents: null,
        lowercase: true,
      },
      pre_tokenizer: { type: "BertPreTokenizer" },
      post_processor: {
        type: "TemplateProcessing",
        single: [
          { SpecialToken: { id: "[CLS]", type_id: 0 } },
          { Sequence: { id: "A", type_id: 0 } },
          { SpecialToken: { id: "[SEP]", type_id: 0 } },
        ],
        pair: [
          { SpecialToken: { id: "[CLS]", type_id: 0 } },
          { Sequence: { id: "A", type_id: 0 } },
          { SpecialToken: { id: "[SEP]", type_id: 0 } },
          { Sequence: { id: "B", type_id: 1 } },
          { SpecialToken: { id: "[SEP]", type_id: 1 } },
        ],
        special_tokens: {
          "[CLS]": { id: "[CLS]", ids: [2], tokens: ["[CLS]"] },
          "[SEP]": { id: "[SEP]", ids: [3], tokens: ["[SEP]"] },
        },
      },
      decoder: { type: "WordPiece", prefix: "##", cleanup: true },
      model: {
        type: "WordPiece",
        unk_token: "[UNK]",
        continuing_subword_prefix: "##",
        max_input_chars_per_word: 100,
        vocab: Object.fromEntries(vocab.map((t, i) => [t, i])),
      },
    };
    const tokenizer = fileModel("mini-tokenizer", new TextEncoder().encode(JSON.stringify(tokenizerJson)));
    const model = manifestModel("mini-embed", {
      format: TEXT_EMBEDDING_FORMAT,
      encoder: encoder.sha256,
      tokenizer: tokenizer.sha256,
      dims: DIMS,
      output: "last_hidden_state",
      pooling: "mean",
      normalize: true,
      maxTokens: 16,
      batchSize: 2,
    });
    return { model, pipeline: [encoder, tokenizer] };
  }

  test("texts become [CLS] word pieces [SEP], mean-pooled over the mask and normalised", async () => {
    const task = minilmStyle();
    // "Cats run" -> [CLS] cat ##s run [SEP]; "dog" -> [CLS] dog [SEP]; "emu" -> [CLS] [UNK] [SEP].
    const texts = ["Cats run", "dog", "emu"];
    const embedded = await runtime.embed(task.model, task.pipeline, texts, context());
    expect(embedded.tokens).toEqual([5, 3, 3]);
    const expected = [
      [2, 4, 5, 7, 3],
      [2, 6, 3],
      [2, 1, 3],
    ].map((ids) => {
      const mean = new Float64Array(DIMS);
      for (const id of ids)
        for (let d = 0; d < DIMS; d++) mean[d] = (mean[d] ?? 0) + (row(id)[d] ?? 0) / ids.length;
      const norm = Math.hypot(...mean);
      return [...mean].map((x) => x / norm);
    });
    for (const [i, want] of expected.entries()) {
      const got = embedded.vectors[i];
      if (!got) throw new Error(`vector ${i} missing`);
      for (let d = 0; d < DIMS; d++) expect(got[d]).toBeCloseTo(want[d] ?? 0, 5);
    }
  });
});

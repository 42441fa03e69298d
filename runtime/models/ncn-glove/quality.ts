// Quality of a text-embedding model on hand-written sentence triples: each anchor should
// be closer (cosine) to its paraphrase than to a sentence on another topic. Prints the
// mean cosines, the margin and how many triples are ranked right.
//   node tools/bun.mjs runtime/models/ncn-glove/quality.ts
export const QUALITY_TRIPLES: readonly (readonly [anchor: string, related: string, unrelated: string])[] = [
  [
    "He plays the guitar in a rock band.",
    "She is a guitarist in a rock group.",
    "The stock market fell sharply today.",
  ],
  ["The cat rested on the carpet.", "The kitten slept on the rug.", "The table was in the drawing room."],
  [
    "How do I reset my password?",
    "I forgot my password and cannot log in.",
    "What is the weather like in Paris?",
  ],
  [
    "The central bank raised interest rates.",
    "Interest rates were increased by the federal reserve.",
    "The team won the football match.",
  ],
  [
    "A man is cooking pasta in the kitchen.",
    "Someone is preparing spaghetti for dinner.",
    "The rocket launched into orbit.",
  ],
  [
    "The patient was treated for a heart attack.",
    "Doctors cared for the man after his cardiac arrest.",
    "The new phone has a larger screen.",
  ],
  [
    "Heavy rain caused flooding in the city.",
    "Storms flooded the streets of the town.",
    "He bought a new pair of running shoes.",
  ],
  [
    "The students are studying for their exams.",
    "Pupils prepare for the final test at school.",
    "The ship sailed across the ocean.",
  ],
  [
    "The company reported record profits this year.",
    "The firm's earnings reached an all-time high.",
    "The children played in the park.",
  ],
  [
    "She is learning to speak French.",
    "He takes Spanish language lessons.",
    "The bridge collapsed during the earthquake.",
  ],
  [
    "The election results were announced on Tuesday.",
    "Voters learned who won the vote this week.",
    "The recipe needs two cups of flour.",
  ],
  [
    "Agents run models and validators check them.",
    "Validators verify the work of compute nodes.",
    "The garden is full of roses.",
  ],
];

export interface QualityFigures {
  related: number;
  unrelated: number;
  /** Triples where the paraphrase scores higher than the other sentence. */
  ranked: number;
  triples: number;
}

function cosine(a: Float32Array, b: Float32Array): number {
  let dot = 0;
  let na = 0;
  let nb = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    na += x * x;
    nb += y * y;
  }
  return dot / Math.sqrt(na * nb || 1);
}

/** Scores `embed` (texts in, one vector each out) on the triples above. */
export async function measureQuality(
  embed: (texts: string[]) => Promise<Float32Array[]>,
): Promise<QualityFigures> {
  let related = 0;
  let unrelated = 0;
  let ranked = 0;
  for (const triple of QUALITY_TRIPLES) {
    const [a, r, u] = await embed([...triple]);
    if (!a || !r || !u) throw new Error("embed returned fewer vectors than texts");
    const cr = cosine(a, r);
    const cu = cosine(a, u);
    related += cr;
    unrelated += cu;
    if (cr > cu) ranked++;
  }
  const n = QUALITY_TRIPLES.length;
  return { related: related / n, unrelated: unrelated / n, ranked, triples: n };
}

if (import.meta.main) {
  const { mkdtempSync, rmSync } = await import("node:fs");
  const { tmpdir } = await import("node:os");
  const { join } = await import("node:path");
  const { ModelStore } = await import("../../src/store/model-store.ts");
  const { STRICT_SOURCE_POLICY } = await import("../../src/store/source-policy.ts");
  const { OnnxRuntime } = await import("../../src/runtimes/onnx/onnx-runtime.ts");
  const { TextEmbeddingRuntime } = await import(
    "../../src/runtimes/text-embedding/text-embedding-runtime.ts"
  );
  const { ncnGloveTask } = await import("../../src/runtimes/text-embedding/builtin-models.ts");
  const dir = mkdtempSync(join(tmpdir(), "ncn-glove-quality-"));
  const onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  try {
    const store = await ModelStore.open({
      dir,
      maxBytes: 100 * 1024 * 1024,
      ttlMs: 60_000,
      sources: STRICT_SOURCE_POLICY,
    });
    const runtime = new TextEmbeddingRuntime({ onnx, loadModel: (m) => store.load(m) });
    const { model, pipeline } = ncnGloveTask();
    const embed = async (texts: string[]) =>
      (
        await runtime.embed(model, pipeline, texts, {
          fetchModel: async (m) => {
            await store.ensure(m);
          },
        })
      ).vectors;
    const [a, r, u] = QUALITY_TRIPLES[0] ?? [];
    const [va, vr, vu] = await embed([a ?? "", r ?? "", u ?? ""]);
    if (va && vr && vu) {
      process.stdout.write(
        `"${a}"\n  vs "${r}": ${cosine(va, vr).toFixed(3)}\n  vs "${u}": ${cosine(va, vu).toFixed(3)}\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(await measureQuality(embed))}\n`);
  } finally {
    await onnx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

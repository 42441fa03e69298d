// Embeddings per second of the built-in sentence-embedding model run directly through the
// text-embedding runtime (no gateway, no agent link): tasks of 1 text and of 32 texts.
//   node tools/bun.mjs bench/src/embed/bench-embed.ts [--quick]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ncnGloveTask, TextEmbeddingRuntime } from "@ncn/runtime";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { QUALITY_TRIPLES } from "../../../runtime/models/ncn-glove/quality.ts";
import { benchModelStore } from "../model-store.ts";
import { fmt, percentile } from "../stats.ts";

export interface EmbedFigures {
  [figure: string]: number;
}

/** Realistic sentences (8 to 12 words), cycled to fill the batches. */
const SENTENCES = QUALITY_TRIPLES.flat();

export async function benchEmbed(quick: boolean): Promise<EmbedFigures> {
  const dir = mkdtempSync(join(tmpdir(), "ncn-bench-embed-"));
  const onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  try {
    const { loadModel, context } = await benchModelStore(dir);
    const runtime = new TextEmbeddingRuntime({ onnx, loadModel });
    const figures: EmbedFigures = {};
    const seconds = quick ? 1.5 : 5;
    for (const batch of [1, 32]) {
      let next = 0;
      const texts = () => Array.from({ length: batch }, () => SENTENCES[next++ % SENTENCES.length] ?? "");
      // Warm-up: model fetched and verified, session opened, tokenizer parsed.
      for (let i = 0; i < 5; i++)
        await runtime.run({ kind: "embed", ...ncnGloveTask(), texts: texts() }, context);
      const latencies: number[] = [];
      const stages = { tokenize: 0, infer: 0, pool: 0 };
      const start = performance.now();
      while (performance.now() - start < seconds * 1000) {
        const t0 = performance.now();
        const run = await runtime.run({ kind: "embed", ...ncnGloveTask(), texts: texts() }, context);
        latencies.push(performance.now() - t0);
        for (const k of Object.keys(stages) as (keyof typeof stages)[]) stages[k] += run.timings[k] ?? 0;
      }
      const elapsed = (performance.now() - start) / 1000;
      figures[`embed_per_s_batch${batch}`] = (latencies.length * batch) / elapsed;
      figures[`embed_task_ms_p50_batch${batch}`] = percentile(latencies, 50);
      figures[`embed_task_ms_p99_batch${batch}`] = percentile(latencies, 99);
      for (const [k, ms] of Object.entries(stages)) {
        figures[`embed_${k}_ms_per_task_batch${batch}`] = ms / latencies.length;
      }
    }
    return figures;
  } finally {
    await onnx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.main) {
  const figures = await benchEmbed(process.argv.includes("--quick"));
  const width = Math.max(...Object.keys(figures).map((k) => k.length));
  for (const [k, value] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${fmt(value, 2)}`);
}

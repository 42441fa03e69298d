// The language model and the embedding model through the whole network (a devnet: the
// gateway in workerd, the session voucher, preprocess and completion validation by 2 of 3
// validators, an agent streaming its tokens) against the same runtimes called directly in
// this process, in the same run: time to first token, decode tokens per second, and
// embeddings per second at batch 1 and 32.
//   node tools/bun.mjs bench/src/main.ts --only=llm-network [--quick]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startDevnet } from "@ncn/cli/devnet";
import type { SamplingParams } from "@ncn/protocol";
import { ncnGloveTask, TextEmbeddingRuntime } from "@ncn/runtime";
import { CausalLmRuntime, NCN_GPT } from "@ncn/runtime/causal-lm";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { QUALITY_TRIPLES } from "../../../runtime/models/ncn-glove/quality.ts";
import { benchModelStore } from "../model-store.ts";
import { percentile } from "../stats.ts";

export interface LlmNetworkFigures {
  [figure: string]: number;
}

const PROMPT = "And it came to pass, when the king heard the words of the book of the law, that";
const SENTENCES = QUALITY_TRIPLES.flat();

/** One generation's timing: first token after `ttft` ms, then `tokens` more in `decodeMs`. */
interface Timed {
  ttft: number;
  tokens: number;
  decodeMs: number;
}

function timing(t0: number, arrivals: number[]): Timed {
  const first = arrivals[0] ?? Number.NaN;
  const last = arrivals[arrivals.length - 1] ?? first;
  return { ttft: first - t0, tokens: arrivals.length - 1, decodeMs: last - first };
}

const tokensPerSecond = (runs: Timed[]) =>
  (runs.reduce((n, r) => n + r.tokens, 0) / runs.reduce((ms, r) => ms + r.decodeMs, 0)) * 1000;

export async function benchOpenAiNetwork(
  quick: boolean,
  log: (msg: string) => void = () => undefined,
): Promise<LlmNetworkFigures> {
  const home = mkdtempSync(join(tmpdir(), "ncn-bench-llm-net-"));
  // Not spinning, as agents run it: threads spinning in this process would take the cores
  // the devnet needs for the network runs in between.
  const onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  const devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
  try {
    const { loadModel, context } = await benchModelStore(home, 200 * 1024 * 1024);
    const lm = new CausalLmRuntime({ onnx, loadModel });
    const embedder = new TextEmbeddingRuntime({ onnx, loadModel });
    const runs = quick ? 3 : 8;
    const sampling: SamplingParams = { max_tokens: 128, temperature: 0, top_p: 1, seed: 0, stop: [] };

    const direct = async (): Promise<Timed> => {
      const arrivals: number[] = [];
      const t0 = performance.now();
      await lm.run(
        { kind: "generate", model: NCN_GPT, prompt: PROMPT, sampling },
        { ...context, onToken: () => arrivals.push(performance.now()) },
      );
      return timing(t0, arrivals);
    };
    const network = async (): Promise<Timed> => {
      const arrivals: number[] = [];
      const t0 = performance.now();
      const stream = await devnet.client.generateStream({
        subnet: "chat",
        model: "ncn-gpt",
        prompt: PROMPT,
        sampling,
      });
      for await (const _ of stream) arrivals.push(performance.now());
      const response = await stream.response;
      if (response.state !== "returned") throw new Error(`a streamed request ended ${response.state}`);
      return timing(t0, arrivals);
    };
    // Warm-up: the model loaded here and on every agent.
    await direct();
    for (let i = 0; i < devnet.agents.length * 2; i++) await network();
    const directRuns: Timed[] = [];
    const networkRuns: Timed[] = [];
    for (let i = 0; i < runs; i++) {
      // Interleaved, so a busy moment of the machine falls on both.
      directRuns.push(await direct());
      networkRuns.push(await network());
      log(`llm run ${i + 1}/${runs}`);
    }
    const ttftDirect = percentile(
      directRuns.map((r) => r.ttft),
      50,
    );
    const ttftNetwork = percentile(
      networkRuns.map((r) => r.ttft),
      50,
    );
    const tpsDirect = tokensPerSecond(directRuns);
    const tpsNetwork = tokensPerSecond(networkRuns);

    const figures: LlmNetworkFigures = {
      llm_direct_ttft_ms_p50: ttftDirect,
      llm_network_ttft_ms_p50: ttftNetwork,
      llm_network_ttft_ms_p90: percentile(
        networkRuns.map((r) => r.ttft),
        90,
      ),
      /** The goal is at most 1 (network TTFT within 1.2x direct + 20 ms). */
      llm_ttft_goal_ratio: ttftNetwork / (1.2 * ttftDirect + 20),
      llm_direct_tokens_per_s: tpsDirect,
      llm_network_tokens_per_s: tpsNetwork,
      /** The goal is at least 0.9. */
      llm_tokens_per_s_ratio: tpsNetwork / tpsDirect,
    };

    const seconds = quick ? 2 : 5;
    let next = 0;
    const texts = (n: number) => Array.from({ length: n }, () => SENTENCES[next++ % SENTENCES.length] ?? "");
    for (const batch of [1, 32]) {
      const rate = async (embed: (t: string[]) => Promise<unknown>) => {
        for (let i = 0; i < 3; i++) await embed(texts(batch));
        let n = 0;
        const start = performance.now();
        while (performance.now() - start < seconds * 1000) {
          await embed(texts(batch));
          n += batch;
        }
        return (n / (performance.now() - start)) * 1000;
      };
      const viaDirect = await rate((t) =>
        embedder.run({ kind: "embed", ...ncnGloveTask(), texts: t }, context),
      );
      const viaNetwork = await rate(async (t) => {
        const r = await devnet.client.embed({ subnet: "embed", model: "ncn-glove-100d", texts: t });
        if (r.state !== "returned") throw new Error(`an embedding request ended ${r.state}`);
      });
      figures[`embed_direct_per_s_batch${batch}`] = viaDirect;
      figures[`embed_network_per_s_batch${batch}`] = viaNetwork;
      figures[`embed_network_ratio_batch${batch}`] = viaNetwork / viaDirect;
      log(
        `embeddings batch ${batch}: ${viaNetwork.toFixed(1)}/s through the network, ${viaDirect.toFixed(1)}/s direct`,
      );
    }
    return figures;
  } finally {
    await devnet.stop();
    await onnx.close();
    rmSync(home, { recursive: true, force: true });
  }
}

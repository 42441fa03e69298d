import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SamplingParams } from "@ncn/protocol";
import { CausalLmRuntime, generate, NCN_GPT } from "@ncn/runtime/causal-lm";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { benchModelStore } from "../model-store.ts";
import { percentile } from "../stats.ts";

export interface LlmFigures {
  /** Loading the built-in model (manifest, tokenizer, decoder session), once. */
  llm_load_ms: number;
  /** Tokens in the benchmark prompt, and the time of its one forward pass (prefill). */
  llm_prompt_tokens: number;
  llm_prefill_ms_p50: number;
  /** Time to first token: prompt tokenization, prefill and the first sampling step. */
  llm_ttft_ms_p50: number;
  llm_ttft_ms_p90: number;
  /** Generated tokens per second after the first token (greedy, then sampled). */
  llm_decode_tokens_per_s_greedy: number;
  llm_decode_tokens_per_s_sampled: number;
  /** Whole-task tokens per second through the runtime (tokenize, generate, hash), greedy. */
  llm_task_tokens_per_s: number;
}

const PROMPT = "And it came to pass, when the king heard the words of the book of the law, that";

/**
 * The language model run directly through the causal-lm runtime, no network: time to first
 * token and decode speed of `ncn-gpt` on this machine's CPU, one generation at a time.
 */
export async function benchLlm(quick: boolean): Promise<LlmFigures> {
  const dir = mkdtempSync(join(tmpdir(), "ncn-bench-llm-"));
  const onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  try {
    const { loadModel, context } = await benchModelStore(dir);
    const lmRuntime = new CausalLmRuntime({ onnx, loadModel });
    const t0 = performance.now();
    const lm = await lmRuntime.loadModel(NCN_GPT, context);
    const load = performance.now() - t0;
    const runs = quick ? 3 : 10;
    const maxTokens = 128;
    const ttft: number[] = [];
    const prefill: number[] = [];
    const speed = async (sampling: SamplingParams): Promise<number> => {
      let tokens = 0;
      let decodeMs = 0;
      for (let i = 0; i < runs; i++) {
        const started = performance.now();
        const promptIds = lm.tokenizer.encodePrompt(PROMPT);
        const tokenize = performance.now() - started;
        const g = await generate(lm.decoder, lm.tokenizer, promptIds, {
          sampling: { ...sampling, seed: i },
          contextLength: lm.manifest.contextLength,
        });
        ttft.push(tokenize + g.timings.firstToken);
        prefill.push(g.timings.prefill);
        tokens += g.tokens.length - 1;
        decodeMs += g.timings.decode - (g.timings.firstToken - g.timings.prefill);
      }
      return (tokens / decodeMs) * 1000;
    };
    const stop: string[] = [];
    const greedy = await speed({ max_tokens: maxTokens, temperature: 0, top_p: 1, seed: 0, stop });
    const sampled = await speed({ max_tokens: maxTokens, temperature: 0.8, top_p: 0.95, seed: 0, stop });
    let taskTokens = 0;
    const taskStarted = performance.now();
    for (let i = 0; i < runs; i++) {
      const run = await lmRuntime.run(
        {
          kind: "generate",
          model: NCN_GPT,
          prompt: PROMPT,
          sampling: { max_tokens: maxTokens, temperature: 0, top_p: 1, seed: 0, stop },
        },
        context,
      );
      if (run.result.kind === "generate") taskTokens += run.result.completion_tokens;
    }
    return {
      llm_load_ms: load,
      llm_prompt_tokens: lm.tokenizer.encodePrompt(PROMPT).length,
      llm_prefill_ms_p50: percentile(prefill, 50),
      llm_ttft_ms_p50: percentile(ttft, 50),
      llm_ttft_ms_p90: percentile(ttft, 90),
      llm_decode_tokens_per_s_greedy: greedy,
      llm_decode_tokens_per_s_sampled: sampled,
      llm_task_tokens_per_s: (taskTokens / (performance.now() - taskStarted)) * 1000,
    };
  } finally {
    await onnx.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

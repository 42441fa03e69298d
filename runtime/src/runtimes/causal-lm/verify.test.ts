import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { SamplingParams } from "@ncn/protocol";
import type { RuntimeContext } from "../../runtime.ts";
import { ModelStore } from "../../store/model-store.ts";
import { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { NCN_GPT } from "./builtin-models.ts";
import { CausalLmRuntime, type LoadedCausalLm } from "./causal-lm-runtime.ts";
import { generate } from "./generate.ts";
import { verifyGeneration } from "./verify.ts";

let dir: string;
let onnx: OnnxRuntime;
let lm: LoadedCausalLm;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-causal-lm-verify-"));
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  const store = await ModelStore.open({ dir, maxBytes: 200 * 1024 * 1024, ttlMs: 3_600_000 });
  const context: RuntimeContext = { fetchModel: async (m) => void (await store.ensure(m)) };
  lm = await new CausalLmRuntime({ onnx, loadModel: (m) => store.load(m) }).loadModel(NCN_GPT, context);
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

const PROMPT = "And it came to pass, when Jesus had finished these sayings,";

async function honest(sampling: SamplingParams) {
  const promptIds = lm.tokenizer.encodePrompt(PROMPT);
  const { tokens } = await generate(lm.decoder, lm.tokenizer, promptIds, { sampling, contextLength: 256 });
  return { promptIds, tokens };
}

/** The least probable next token after `prefix`: what no honest sampler picks. */
async function worstNext(prefix: readonly number[]): Promise<number> {
  const pass = await lm.decoder.forward(prefix, lm.decoder.emptyCache());
  const logits = pass.logitsAt(prefix.length - 1);
  let worst = 0;
  for (let i = 1; i < logits.length; i++) if ((logits[i] ?? 0) < (logits[worst] ?? 0)) worst = i;
  return worst;
}

function check(promptIds: readonly number[], tokens: readonly number[], sampling: SamplingParams) {
  return verifyGeneration({
    decoder: lm.decoder,
    promptIds,
    tokens,
    sampling,
    contextLength: lm.manifest.contextLength,
    endTokenIds: lm.tokenizer.endTokenIds,
  });
}

describe("verifyGeneration", () => {
  const greedy: SamplingParams = { max_tokens: 32, temperature: 0, top_p: 1, seed: 0, stop: [] };

  test("honest greedy output passes", async () => {
    const { promptIds, tokens } = await honest(greedy);
    expect(tokens.length).toBeGreaterThan(0);
    expect(await check(promptIds, tokens, greedy)).toEqual({ ok: true, checked: tokens.length });
  });

  test("honest sampled output passes, for several seeds and temperatures", async () => {
    for (const [seed, temperature, top_p] of [
      [1, 1, 1],
      [2, 0.7, 0.9],
      [3, 1.3, 0.95],
    ] as const) {
      const sampling: SamplingParams = { max_tokens: 32, temperature, top_p, seed, stop: [] };
      const { promptIds, tokens } = await honest(sampling);
      expect(await check(promptIds, tokens, sampling)).toEqual({ ok: true, checked: tokens.length });
    }
  });

  test("a tampered greedy token fails at its position", async () => {
    const { promptIds, tokens } = await honest(greedy);
    const forged = tokens.slice(0, 6);
    const honestToken = forged[5] ?? 0;
    forged[5] = await worstNext([...promptIds, ...forged.slice(0, 5)]);
    const verdict = await check(promptIds, forged, greedy);
    expect(verdict).toMatchObject({ ok: false, position: 5, reason: "not_greedy", expected: honestToken });
  });

  test("a tampered sampled token fails at its position", async () => {
    const sampling: SamplingParams = { max_tokens: 32, temperature: 0.8, top_p: 1, seed: 4, stop: [] };
    const { promptIds, tokens } = await honest(sampling);
    const forged = tokens.slice(0, 10);
    forged[7] = await worstNext([...promptIds, ...forged.slice(0, 7)]);
    expect(await check(promptIds, forged, sampling)).toMatchObject({
      ok: false,
      position: 7,
      reason: "improbable",
    });
    // Under nucleus sampling the same forgery falls outside the nucleus (checked first).
    const nucleus: SamplingParams = { ...sampling, top_p: 0.5 };
    const inNucleus = await honest(nucleus);
    const forgedInNucleus = inNucleus.tokens.slice(0, 10);
    forgedInNucleus[7] = await worstNext([...inNucleus.promptIds, ...forgedInNucleus.slice(0, 7)]);
    expect(await check(inNucleus.promptIds, forgedInNucleus, nucleus)).toMatchObject({
      ok: false,
      position: 7,
      reason: "outside_top_p",
    });
  });

  test("more tokens than max_tokens, or an end token inside, fail", async () => {
    const { promptIds, tokens } = await honest(greedy);
    expect(await check(promptIds, tokens, { ...greedy, max_tokens: 3 })).toMatchObject({
      ok: false,
      position: 3,
      reason: "too_many_tokens",
    });
    const end = [...lm.tokenizer.endTokenIds][0] ?? 0;
    expect(await check(promptIds, [...tokens.slice(0, 2), end], greedy)).toMatchObject({
      ok: false,
      position: 2,
      reason: "end_token",
    });
  });

  test("a token id outside the vocabulary fails at its position, sampled or greedy", async () => {
    const sampling: SamplingParams = { max_tokens: 32, temperature: 1, top_p: 1, seed: 5, stop: [] };
    for (const params of [sampling, greedy]) {
      const { promptIds, tokens } = await honest(params);
      const padded = [...tokens.slice(0, 4), 99_999];
      expect(await check(promptIds, padded, params)).toEqual({
        ok: false,
        position: 4,
        token: 99_999,
        reason: "unknown_token",
      });
    }
  });
});

describe("CausalLmRuntime.verify", () => {
  test("passes an honest result and refuses one whose text or token was changed", async () => {
    const store = await ModelStore.open({
      dir: join(dir, "verify"),
      maxBytes: 100 * 1024 * 1024,
      ttlMs: 60_000,
    });
    const context: RuntimeContext = { fetchModel: async (m) => void (await store.ensure(m)) };
    const runtime = new CausalLmRuntime({ onnx, loadModel: (m) => store.load(m) });
    const work = {
      kind: "generate" as const,
      model: NCN_GPT,
      prompt: PROMPT,
      sampling: { max_tokens: 24, temperature: 0.9, top_p: 0.95, seed: 11, stop: [] },
    };
    const run = await runtime.run(work, context);
    if (run.result.kind !== "generate") throw new Error("expected a generate result");
    const result = run.result;
    expect(await runtime.verify(work, result, context)).toEqual({ ok: true, checked: result.tokens.length });
    expect(await runtime.verify(work, { ...result, text: `${result.text} amen` }, context)).toMatchObject({
      ok: false,
      reason: "text_mismatch",
    });
    expect(
      await runtime.verify(work, { ...result, prompt_tokens: result.prompt_tokens + 1 }, context),
    ).toMatchObject({
      ok: false,
      reason: "prompt_mismatch",
    });
    const tokens = [...result.tokens];
    tokens[3] = await worstNext([...lm.tokenizer.encodePrompt(PROMPT), ...tokens.slice(0, 3)]);
    const forged = { ...result, tokens, text: lm.tokenizer.decode(tokens) };
    expect(await runtime.verify(work, forged, context)).toMatchObject({ ok: false, position: 3 });
    // An id the tokenizer does not know decodes to nothing, so the text still matches: the id is refused.
    const kept = result.tokens.slice(0, 10);
    const paddedTokens = [...kept, 99_999];
    expect(lm.tokenizer.decode(paddedTokens)).toBe(lm.tokenizer.decode(kept));
    const padded = {
      ...result,
      tokens: paddedTokens,
      text: lm.tokenizer.decode(paddedTokens),
      completion_tokens: paddedTokens.length,
    };
    expect(await runtime.verify(work, padded, context)).toMatchObject({
      ok: false,
      position: 10,
      reason: "unknown_token",
    });
  });
});

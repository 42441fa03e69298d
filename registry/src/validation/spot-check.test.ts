import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  Address,
  bytesToBase64,
  decodeEmbedding,
  type EmbedResult,
  encodeEmbedding,
  type GenerateResult,
  type ModelDescriptor,
  type ReputationEvent,
  RequestId,
  type SamplingParams,
  TaskInput,
  type TaskResult,
} from "@ncn/protocol";
import {
  ModelStore,
  NCN_GLOVE,
  NCN_GLOVE_ENCODER,
  NCN_GLOVE_TOKENIZER,
  TaskExecutor,
  type TaskWork,
} from "@ncn/runtime";
import { CausalLmRuntime, type LoadedCausalLm, NCN_GPT } from "@ncn/runtime/causal-lm";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import { NCN_WHISPER } from "@ncn/runtime/speech-to-text";
import { spokenSentences } from "@ncn/runtime/testing/spoken-audio";
import * as v from "valibot";
import { ValidationRefusedError } from "../errors.ts";
import type { ModelRecord } from "../records/record-index.ts";
import { RecordIndex } from "../records/record-index.ts";
import { lazyOnnxReexecutor, type OnnxReexecutor } from "../reexec/onnx-reexecutor.ts";
import type { Reexecutor } from "../reexec/reexecutor.ts";
import { openDatabase } from "../store/database.ts";
import { implausibleNext } from "../test-support/language-model.ts";
import { fakeModel, modelRecord, newAccount } from "../test-support/records.ts";
import { type SpotCheckDeps, type SpotCheckSubject, spotCheck } from "./spot-check.ts";

const dbs: ReturnType<typeof openDatabase>[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});

async function indexed(model: ModelDescriptor): Promise<{ index: RecordIndex; record: ModelRecord }> {
  const db = openDatabase(":memory:");
  dbs.push(db);
  const index = new RecordIndex(db);
  index.upsert(await modelRecord(newAccount(), model));
  const record = index.get("model", model.id)?.record;
  if (!record) throw new Error("model not indexed");
  return { index, record };
}

const ocrInput = { kind: "ocr", model: "ppocr-v4", image: "aGVsbG8gd29ybGQ=" } as TaskInput;
const ocrResult = {
  kind: "ocr",
  lines: [
    {
      text: "hello",
      score: 0.99,
      box: [
        [0, 0],
        [10, 0],
        [10, 5],
        [0, 5],
      ],
    },
  ],
} as TaskResult;

describe("spot checks count what they could not check", () => {
  test("a sampled OCR result without an OCR re-executor, and a python model, count as unchecked, not passed", async () => {
    const outcomes: string[] = [];
    const ocr = await indexed({ ...fakeModel("ppocr-v4"), inputs: [], outputs: [] });
    const deps = {
      index: ocr.index,
      reexecutor: { run: async () => ({}) },
      spotCheck: { fraction: 1, atol: 1e-4, rtol: 1e-3 },
      onSpotCheck: (o: string) => outcomes.push(o),
    };
    const subject = {
      requestId: "r-ocr",
      agent: newAccount().address.toLowerCase(),
      input: ocrInput,
      result: ocrResult,
    };
    expect(await spotCheck(subject as never, ocr.record, deps)).toBe("unchecked");
    const python = await indexed({ ...fakeModel("py-model"), runtime: "python" } as ModelDescriptor);
    expect(await spotCheck(subject as never, python.record, { ...deps, index: python.index })).toBe(
      "unchecked",
    );
    // Not sampled: neither checked nor counted.
    expect(
      await spotCheck(subject as never, ocr.record, {
        ...deps,
        spotCheck: { ...deps.spotCheck, fraction: 0 },
      }),
    ).toBe("skipped");
    expect(outcomes).toEqual(["unchecked", "unchecked"]);
  });

  test("an OCR re-execution that reads other text fails the check and reports the agent", async () => {
    const ocr = await indexed({ ...fakeModel("ppocr-v4"), inputs: [], outputs: [] });
    const events: string[] = [];
    const pipelines: string[][] = [];
    const deps = {
      index: ocr.index,
      reexecutor: {
        run: async () => ({}),
        ocr: async (_m: ModelDescriptor, pipeline: readonly ModelDescriptor[]) => {
          pipelines.push(pipeline.map((p) => p.id));
          return [
            {
              text: "hullo",
              score: 0.99,
              box: [
                [0, 0],
                [10, 0],
                [10, 5],
                [0, 5],
              ],
            },
          ] as never;
        },
      },
      spotCheck: { fraction: 1, atol: 1e-4, rtol: 1e-3 },
      onReputationEvent: (e: { kind: string }) => events.push(e.kind),
    };
    ocr.index.upsert(await modelRecord(newAccount(), { ...fakeModel("ppocr-v4-det") }));
    const subject = {
      requestId: "r-ocr",
      agent: newAccount().address.toLowerCase(),
      input: ocrInput,
      result: ocrResult,
    };
    const refused = await spotCheck(subject as never, ocr.record, deps as never).catch((e: unknown) => e);
    expect((refused as { details: { reason: string; field: string } }).details).toEqual({
      reason: "spot_check_failed",
      field: "result.lines",
    });
    expect(events).toEqual(["spot_check_failed"]);
    // The pipeline's registered parts are handed to the re-executor, as gateways send them to agents.
    expect(pipelines).toEqual([["ppocr-v4-det"]]);
  });
});

// The agent's side (a task executor, as agents run tasks) and the validator's (its lazy
// re-executor, with a model cache of its own), both with the real built-in models.
let root: string;
let agentOnnx: OnnxRuntime;
let agent: TaskExecutor;
let validator: OnnxReexecutor;
/** The agent's loaded language model, to find tokens the model finds implausible. */
let lm: LoadedCausalLm;

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), "ncn-spot-check-"));
  agentOnnx = await OnnxRuntime.create({ executionProvider: "cpu", poolSize: 1 });
  const store = await ModelStore.open({ dir: join(root, "agent"), maxBytes: 2 ** 30, ttlMs: 3_600_000 });
  agent = new TaskExecutor({ store, runtime: agentOnnx });
  lm = await new CausalLmRuntime({ onnx: agentOnnx, loadModel: (m) => store.load(m) }).loadModel(NCN_GPT, {
    fetchModel: async (m) => void (await store.ensure(m)),
  });
  validator = lazyOnnxReexecutor(join(root, "validator"));
});

afterAll(async () => {
  await validator.close();
  await agentOnnx.close();
  rmSync(root, { recursive: true, force: true });
});

/** What a validator's spot check saw: outcomes counted and reputation events emitted. */
function recorder(index: RecordIndex, reexecutor: Reexecutor = validator) {
  const outcomes: string[] = [];
  const events: ReputationEvent[] = [];
  const deps: SpotCheckDeps = {
    index,
    reexecutor,
    spotCheck: { fraction: 1, atol: 1e-4, rtol: 1e-3 },
    onSpotCheck: (o) => outcomes.push(o),
    onReputationEvent: (e) => events.push(e),
  };
  return { deps, outcomes, events };
}

/** The agent runs the task; the completion the gateway would send a validator. */
async function completed(requestId: string, work: TaskWork): Promise<SpotCheckSubject> {
  const { result } = await agent.execute(work);
  const { model, kind } = work;
  const task =
    work.kind === "generate"
      ? { kind, model: model.id, prompt: work.prompt, sampling: work.sampling }
      : work.kind === "embed"
        ? { kind, model: model.id, texts: work.texts }
        : work.kind === "transcribe"
          ? { kind, model: model.id, audio: work.audio }
          : undefined;
  return {
    requestId: v.parse(RequestId, requestId),
    agent: v.parse(Address, newAccount().address.toLowerCase()),
    input: v.parse(TaskInput, task),
    result,
  };
}

/** The refusal a spot check threw (undefined when it passed). */
async function refusal(run: Promise<unknown>): Promise<ValidationRefusedError | undefined> {
  try {
    await run;
    return undefined;
  } catch (e) {
    if (e instanceof ValidationRefusedError) return e;
    throw e;
  }
}

function generated(result: TaskResult): GenerateResult {
  if (result.kind !== "generate") throw new Error(`expected a generate result, got ${result.kind}`);
  return result;
}

function embedded(result: TaskResult): EmbedResult {
  if (result.kind !== "embed") throw new Error(`expected an embed result, got ${result.kind}`);
  return result;
}

/** `result` with the token at `position` replaced, its text the new tokens' (so only the token is wrong). */
function swapped(result: GenerateResult, position: number, token: number): GenerateResult {
  const tokens = [...result.tokens];
  tokens[position] = token;
  return { ...result, tokens, text: lm.tokenizer.decode(tokens) };
}

const PROMPT = "And it came to pass, when Jesus had finished these sayings,";
const GREEDY: SamplingParams = { max_tokens: 32, temperature: 0, top_p: 1, seed: 0, stop: [] };
const SAMPLED: SamplingParams = { max_tokens: 32, temperature: 0.8, top_p: 1, seed: 7, stop: [] };

describe("generate results are checked by teacher forcing, never generated again", () => {
  test("honest greedy and seeded sampled results of ncn-gpt, raw and chat prompts, pass a spot check", async () => {
    const { index, record } = await indexed(NCN_GPT);
    const { deps, outcomes, events } = recorder(index);
    const works: TaskWork[] = [
      { kind: "generate", model: NCN_GPT, prompt: PROMPT, sampling: GREEDY },
      { kind: "generate", model: NCN_GPT, prompt: PROMPT, sampling: SAMPLED },
      {
        kind: "generate",
        model: NCN_GPT,
        prompt: [{ role: "user", content: "Tell me of Egypt." }],
        sampling: { ...SAMPLED, top_p: 0.9, seed: 11 },
      },
    ];
    for (const [i, work] of works.entries()) {
      const subject = await completed(`gen-honest-${i}`, work);
      expect(generated(subject.result).tokens.length).toBeGreaterThan(0);
      expect(await spotCheck(subject, record, deps)).toBe("passed");
    }
    expect(outcomes).toEqual(["passed", "passed", "passed"]);
    expect(events).toEqual([]);
  }, 60_000);

  test("a token swapped for one the model finds implausible fails at its position and reports the agent", async () => {
    const { index, record: model } = await indexed(NCN_GPT);
    const promptIds = lm.tokenizer.encodePrompt(PROMPT);
    for (const [sampling, position, failure] of [
      [SAMPLED, 9, "improbable"],
      [{ ...SAMPLED, top_p: 0.9 }, 4, "outside_top_p"],
      [GREEDY, 6, "not_greedy"],
    ] as const) {
      const { deps, outcomes, events } = recorder(index);
      const honest = await completed(`gen-${failure}`, {
        kind: "generate",
        model: NCN_GPT,
        prompt: PROMPT,
        sampling,
      });
      const result = generated(honest.result);
      const token = await implausibleNext(lm, [...promptIds, ...result.tokens.slice(0, position)]);
      expect(token).not.toBe(result.tokens[position]);
      const forged = { ...honest, result: swapped(result, position, token) };
      const refused = await refusal(spotCheck(forged, model, deps));
      expect(refused?.code).toBe("VALIDATION_REFUSED");
      expect(refused?.details).toMatchObject({
        reason: "spot_check_failed",
        field: "result.tokens",
        position,
        token,
        failure,
      });
      expect(outcomes).toEqual(["failed"]);
      expect(events).toMatchObject([
        { id: `gen-${failure}:spot_check_failed`, kind: "spot_check_failed", agent: honest.agent },
      ]);
      expect(events[0]?.kind === "spot_check_failed" && events[0].reason).toContain(`position ${position}`);
    }
  }, 60_000);

  test("a result padded with an id outside the vocabulary, or counting other prompt tokens, fails", async () => {
    const { index, record: model } = await indexed(NCN_GPT);
    const honest = await completed("gen-padded", {
      kind: "generate",
      model: NCN_GPT,
      prompt: PROMPT,
      sampling: { ...SAMPLED, max_tokens: 12 },
    });
    const result = generated(honest.result);
    // The tokenizer's text skips an unknown id: the text still matches, the count grew.
    const tokens = [...result.tokens.slice(0, 8), 99_999];
    const padded = { ...result, tokens, completion_tokens: tokens.length, text: lm.tokenizer.decode(tokens) };
    expect(
      (await refusal(spotCheck({ ...honest, result: padded }, model, recorder(index).deps)))?.details,
    ).toMatchObject({
      field: "result.tokens",
      position: 8,
      failure: "unknown_token",
    });
    const miscounted = { ...result, prompt_tokens: result.prompt_tokens + 5 };
    expect(
      (await refusal(spotCheck({ ...honest, result: miscounted }, model, recorder(index).deps)))?.details,
    ).toMatchObject({ field: "result.prompt_tokens", failure: "prompt_mismatch" });
  }, 60_000);
});

const TEXTS = [
  "a cat sat on the mat",
  "the stock market fell sharply today",
  "a kitten slept on the rug",
  "rain is expected over the weekend",
];

describe("embed results are re-computed and compared by cosine", () => {
  test("an honest ncn-glove-100d result passes, its registered parts handed to the re-executor", async () => {
    const { index, record } = await indexed(NCN_GLOVE);
    for (const part of [NCN_GLOVE_ENCODER, NCN_GLOVE_TOKENIZER])
      index.upsert(await modelRecord(newAccount(), part));
    const pipelines: string[][] = [];
    const watched: Reexecutor = {
      run: validator.run,
      embed: (model, pipeline, texts) => {
        pipelines.push(pipeline.map((m) => m.id));
        return validator.embed(model, pipeline, texts);
      },
    };
    const { deps, outcomes, events } = recorder(index, watched);
    // The gateway sends no parts for a built-in model: the agent has them.
    const subject = await completed("emb-honest", {
      kind: "embed",
      model: NCN_GLOVE,
      texts: TEXTS,
      pipeline: [],
    });
    expect(await spotCheck(subject, record, deps)).toBe("passed");
    expect(outcomes).toEqual(["passed"]);
    expect(events).toEqual([]);
    expect(pipelines).toEqual([["ncn-glove-100d-encoder", "ncn-glove-100d-tokenizer"]]);
  }, 60_000);

  test("a vector replaced by another text's, even a similar or one word shorter text, fails and reports the agent", async () => {
    const { index, record: model } = await indexed(NCN_GLOVE);
    const honest = await completed("emb-forged", {
      kind: "embed",
      model: NCN_GLOVE,
      texts: TEXTS,
      pipeline: [],
    });
    const result = embedded(honest.result);
    const shorter = embedded(
      (
        await agent.execute({
          kind: "embed",
          model: NCN_GLOVE,
          texts: ["the stock market fell sharply"],
          pipeline: [],
        })
      ).result,
    );
    for (const [index_, vector] of [
      [2, result.embeddings[0]], // "a kitten slept on the rug" given the vector of "a cat sat on the mat"
      [1, shorter.embeddings[0]], // "... fell sharply today" given that of "... fell sharply"
    ] as const) {
      const { deps, outcomes, events } = recorder(index);
      const embeddings = [...result.embeddings];
      embeddings[index_] = vector ?? "";
      const refused = await refusal(spotCheck({ ...honest, result: { ...result, embeddings } }, model, deps));
      expect(refused?.details).toMatchObject({
        reason: "spot_check_failed",
        field: "result.embeddings",
        index: index_,
        failure: "diverged",
      });
      const { cosine } = v.parse(v.object({ cosine: v.number() }), refused?.details);
      expect(cosine).toBeLessThan(0.999);
      expect(outcomes).toEqual(["failed"]);
      expect(events).toMatchObject([{ kind: "spot_check_failed", agent: honest.agent }]);
    }
  }, 60_000);

  test("vectors nudged by hardware-sized drift pass; a vector scaled off unit length fails", async () => {
    const { index, record: model } = await indexed(NCN_GLOVE);
    const honest = await completed("emb-drift", {
      kind: "embed",
      model: NCN_GLOVE,
      texts: TEXTS,
      pipeline: [],
    });
    const result = embedded(honest.result);
    // A relative error of 1e-3 on every component, alternating in sign: far more than float32 runs differ by.
    const drifted = result.embeddings.map((e) =>
      encodeEmbedding(decodeEmbedding(e, result.dims).map((x, i) => x * (1 + (i % 2 ? 1e-3 : -1e-3)))),
    );
    expect(
      await spotCheck({ ...honest, result: { ...result, embeddings: drifted } }, model, recorder(index).deps),
    ).toBe("passed");
    const scaled = [...result.embeddings];
    scaled[3] = encodeEmbedding(decodeEmbedding(result.embeddings[3] ?? "", result.dims).map((x) => x * 2));
    expect(
      (
        await refusal(
          spotCheck({ ...honest, result: { ...result, embeddings: scaled } }, model, recorder(index).deps),
        )
      )?.details,
    ).toMatchObject({ field: "result.embeddings", index: 3, failure: "scale_mismatch" });
  }, 60_000);
});

describe("transcribe results are checked by teacher forcing", () => {
  test("an honest ncn-whisper transcript passes; one with a character changed fails at its position", async () => {
    const { index, record: model } = await indexed(NCN_WHISPER);
    const [sentence] = spokenSentences();
    if (!sentence) throw new Error("no held-out spoken sentence");
    const honest = await completed("stt-honest", {
      kind: "transcribe",
      model: NCN_WHISPER,
      audio: bytesToBase64(sentence.wav),
    });
    const passed = recorder(index);
    expect(await spotCheck(honest, model, passed.deps)).toBe("passed");
    expect(passed.outcomes).toEqual(["passed"]);
    if (honest.result.kind !== "transcribe") throw new Error("expected a transcript");
    const tokens = [...honest.result.tokens];
    const position = Math.floor(tokens.length / 2);
    // the character after the last letter id ("z" -> "'"), else "z": never the one there
    tokens[position] = tokens[position] === 31 ? 32 : 31;
    const text = tokens.map((t) => (t === 5 ? " " : t === 32 ? "'" : String.fromCharCode(91 + t))).join("");
    const forged = { ...honest, result: { ...honest.result, tokens, text: text.trim() } };
    const failed = recorder(index);
    const refused = await refusal(spotCheck(forged, model, failed.deps));
    expect(refused?.details).toMatchObject({
      reason: "spot_check_failed",
      field: "result.tokens",
      position,
      failure: "not_greedy",
    });
    expect(failed.events).toMatchObject([{ kind: "spot_check_failed", agent: honest.agent }]);
  }, 60_000);
});

describe("a result of another kind than its task", () => {
  test("is refused with result_kind_mismatch, not counted as unchecked", async () => {
    const { index, record } = await indexed(NCN_GPT);
    const { deps, outcomes, events } = recorder(index);
    const embed = await completed("kind-embed", {
      kind: "embed",
      model: NCN_GLOVE,
      texts: TEXTS,
      pipeline: [],
    });
    const asked = await completed("kind-gen", {
      kind: "generate",
      model: NCN_GPT,
      prompt: PROMPT,
      sampling: GREEDY,
    });
    const refused = await refusal(spotCheck({ ...asked, result: embed.result }, record, deps));
    expect(refused?.code).toBe("VALIDATION_REFUSED");
    expect(refused?.details).toEqual({
      reason: "result_kind_mismatch",
      field: "result.kind",
      expected: "generate",
    });
    expect(refused?.message).toBe("the result is of kind embed, the task of kind generate");
    expect(outcomes).toEqual([]);
    expect(events).toEqual([]);
  }, 60_000);
});

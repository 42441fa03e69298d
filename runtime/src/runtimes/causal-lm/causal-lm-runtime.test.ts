import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  hashGenerateInput,
  hashGenerateResult,
  type ModelDescriptor,
  type ModelId,
  type SamplingParams,
  type Sha256,
} from "@ncn/protocol";
import { RuntimeError } from "../../errors.ts";
import type { RuntimeContext, TaskWork, TokenDelta } from "../../runtime.ts";
import { ModelStore } from "../../store/model-store.ts";
import { STRICT_SOURCE_POLICY } from "../../store/source-policy.ts";
import { tinyModelBytes } from "../../testing/tiny-model.ts";
import { OnnxRuntime } from "../onnx/onnx-runtime.ts";
import { CAUSAL_LM_BUILTIN_MODELS, NCN_GPT, NCN_GPT_DECODER, NCN_GPT_MANIFEST } from "./builtin-models.ts";
import { CausalLmRuntime } from "./causal-lm-runtime.ts";
import { type CausalLmManifest, causalLmManifestBytes } from "./manifest.ts";

let dir: string;
let onnx: OnnxRuntime;
let store: ModelStore;
let lm: CausalLmRuntime;
const context: RuntimeContext = { fetchModel: async (m) => void (await store.ensure(m)) };

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-causal-lm-"));
  onnx = await OnnxRuntime.create({ executionProvider: "cpu" });
  store = await ModelStore.open({
    dir: join(dir, "cache"),
    maxBytes: 200 * 1024 * 1024,
    ttlMs: 3_600_000,
    sources: { ...STRICT_SOURCE_POLICY, localDirs: [dir] },
  });
  lm = new CausalLmRuntime({ onnx, loadModel: (m) => store.load(m) });
});

afterAll(async () => {
  await onnx.close();
  rmSync(dir, { recursive: true, force: true });
});

const GREEDY: SamplingParams = { max_tokens: 40, temperature: 0, top_p: 1, seed: 0, stop: [] };

function task(
  prompt: TaskWork & { kind: "generate" } extends { prompt: infer P } ? P : never,
  sampling: Partial<SamplingParams> = {},
): TaskWork {
  return { kind: "generate", model: NCN_GPT, prompt, sampling: { ...GREEDY, ...sampling } };
}

async function generated(work: TaskWork, extra: Partial<RuntimeContext> = {}) {
  const run = await lm.run(work, { ...context, ...extra });
  if (run.result.kind !== "generate") throw new Error(`expected a generate result, got ${run.result.kind}`);
  return { ...run, result: run.result };
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (e) {
    return e instanceof RuntimeError ? e.code : `untyped: ${String(e)}`;
  }
}

const COMMON_WORDS = new Set(
  "the and of to in that he his it was is a not for with be as they him i them her all shall unto said you my she had which have but".split(
    " ",
  ),
);

describe("ncn-gpt files", () => {
  test("the built-in descriptors name the shipped files by their sha256 and size", () => {
    const assets = join(import.meta.dir, "../../../assets/ncn-gpt");
    const files: [ModelDescriptor, string][] = [
      [NCN_GPT, "ncn-gpt.causal-lm"],
      ...CAUSAL_LM_BUILTIN_MODELS.slice(1).map((m): [ModelDescriptor, string] => [
        m,
        m.sources[0]?.split("/").pop() ?? "",
      ]),
    ];
    for (const [model, file] of files) {
      const bytes = readFileSync(join(assets, file));
      expect(`0x${createHash("sha256").update(bytes).digest("hex")}`).toBe(model.sha256);
      expect(bytes.byteLength).toBe(model.size);
    }
    const manifest = causalLmManifestBytes(NCN_GPT_MANIFEST);
    expect(Buffer.from(manifest).equals(readFileSync(join(assets, "ncn-gpt.causal-lm")))).toBe(true);
  });
});

describe("CausalLmRuntime on ncn-gpt", () => {
  test("continues a prompt with English words", async () => {
    const { result } = await generated(task("And it came to pass, when the king"));
    const words = result.text.toLowerCase().match(/[a-z']+/g) ?? [];
    expect(words.length).toBeGreaterThan(10);
    expect(words.filter((w) => COMMON_WORDS.has(w)).length / words.length).toBeGreaterThan(0.2);
    expect(result.prompt_tokens).toBeGreaterThan(3);
    expect(result.completion_tokens).toBe(result.tokens.length);
  });

  test("answers chat messages through the model's chat template", async () => {
    const { result } = await generated(
      task([{ role: "user", content: "Tell me of the house of Israel." }], { max_tokens: 60 }),
    );
    expect(result.text.trim().length).toBeGreaterThan(0);
    expect(result.text).not.toContain("<|");
  });

  test("the same seed gives the same tokens; another seed other tokens", async () => {
    const sampled = { temperature: 1, top_p: 0.95, max_tokens: 24 };
    const a = await generated(task("Elizabeth", { ...sampled, seed: 7 }));
    const b = await generated(task("Elizabeth", { ...sampled, seed: 7 }));
    const c = await generated(task("Elizabeth", { ...sampled, seed: 8 }));
    expect(b.result.tokens).toEqual(a.result.tokens);
    expect(b.outputHash).toBe(a.outputHash);
    expect(c.result.tokens).not.toEqual(a.result.tokens);
    expect(c.inputHash).not.toBe(a.inputHash);
  });

  test("stops at max_tokens with finish_reason length", async () => {
    const { result } = await generated(task("And God said", { max_tokens: 5 }));
    expect(result.tokens.length).toBe(5);
    expect(result.finish_reason).toBe("length");
  });

  test("cuts the text before a stop string, with finish_reason stop", async () => {
    const full = await generated(task("And it came to pass", { max_tokens: 40 }));
    const words = full.result.text.trim().split(/\s+/);
    const stop = ` ${words[4]}`;
    const { result } = await generated(task("And it came to pass", { max_tokens: 40, stop: [stop] }));
    expect(result.finish_reason).toBe("stop");
    expect(full.result.text.startsWith(result.text)).toBe(true);
    expect(result.text).not.toContain(stop);
    expect(full.result.text.slice(result.text.length).startsWith(stop)).toBe(true);
    expect(result.tokens.length).toBeLessThan(full.result.tokens.length);
  });

  test("streams tokens as they are produced; the deltas add up to the text", async () => {
    const deltas: TokenDelta[] = [];
    const { result } = await generated(task("The LORD is my shepherd", { max_tokens: 30, stop: [" the"] }), {
      onToken: (d) => deltas.push(d),
    });
    expect(deltas.length).toBeGreaterThan(0);
    expect(deltas.map((d) => d.text).join("")).toBe(result.text);
    expect(deltas.filter((d) => d.token !== null).map((d) => d.token)).toEqual(result.tokens);
  });

  test("reports the protocol's hashes of the task and result", async () => {
    const work = task("Mr. Darcy", { max_tokens: 8 });
    const run = await generated(work);
    if (work.kind !== "generate") throw new Error("unreachable");
    expect(run.inputHash).toBe(hashGenerateInput(work.prompt, work.sampling));
    expect(run.outputHash).toBe(hashGenerateResult(run.result));
  });

  test("refuses a prompt longer than the context with INVALID_INPUT", async () => {
    expect(await codeOf(lm.run(task("and ".repeat(400)), context))).toBe("INVALID_INPUT");
  });
});

describe("CausalLmRuntime with a bad model", () => {
  function fileModel(name: string, bytes: Uint8Array): ModelDescriptor {
    writeFileSync(join(dir, name), bytes);
    return {
      id: name.replace(/\W/g, "-") as ModelId,
      sha256: `0x${createHash("sha256").update(bytes).digest("hex")}` as Sha256,
      size: bytes.byteLength,
      runtime: "onnx",
      sources: [`file:${join(dir, name)}`],
      inputs: [],
      outputs: [],
    };
  }

  test("a model that is not a manifest is refused INVALID_INPUT", async () => {
    const model = fileModel("not-a-manifest", new TextEncoder().encode('{"format":"ncn-ocr-pipeline/1"}'));
    expect(await codeOf(lm.run({ ...task("Hello"), model }, context))).toBe("INVALID_INPUT");
  });

  test("a manifest whose decoder is no decoder is refused MODEL_REJECTED", async () => {
    const tiny = fileModel("tiny.onnx", tinyModelBytes());
    const manifest: CausalLmManifest = {
      ...NCN_GPT_MANIFEST,
      decoder: { sha256: tiny.sha256, size: tiny.size, sources: tiny.sources },
    };
    const model = fileModel("tiny.causal-lm", causalLmManifestBytes(manifest));
    expect(await codeOf(lm.run({ ...task("Hello"), model }, context))).toBe("MODEL_REJECTED");
  });

  test("a manifest naming a file that does not hash to its sha256 is refused", async () => {
    const manifest: CausalLmManifest = {
      ...NCN_GPT_MANIFEST,
      decoder: { ...NCN_GPT_MANIFEST.decoder, sha256: `0x${"ab".repeat(32)}` as Sha256 },
    };
    const model = fileModel("wrong-hash.causal-lm", causalLmManifestBytes(manifest));
    const code = await codeOf(lm.run({ ...task("Hello"), model }, context));
    expect(code).not.toBe("resolved");
    expect(code.startsWith("untyped")).toBe(false);
    expect(NCN_GPT_DECODER.sha256).not.toBe(manifest.decoder.sha256);
  });
});

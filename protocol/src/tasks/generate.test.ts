import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { TaskFrame } from "../frames.ts";
import {
  hashGenerateInput,
  hashGenerateResult,
  hashTaskInput,
  hashTaskResult,
  hashTokenIds,
} from "../hashing.ts";
import { TaskInput, TaskResult } from "../inference.ts";
import { GENERATE_LIMITS, GenerateResult, SamplingParams } from "./generate.ts";

const input = {
  kind: "generate",
  model: "ncn-gpt",
  prompt: [{ role: "user", content: "Hello" }],
  sampling: { max_tokens: 16, temperature: 0.7, top_p: 0.9, seed: 42, stop: ["\n\n"] },
};
const result = {
  kind: "generate",
  text: "Hi there",
  tokens: [17, 901, 3],
  prompt_tokens: 9,
  completion_tokens: 3,
  finish_reason: "stop",
};

describe("generate task", () => {
  test("sampling parameters take defaults; the parsed values are what the input hash names", () => {
    expect(v.parse(SamplingParams, {})).toEqual({
      max_tokens: 128,
      temperature: 1,
      top_p: 1,
      seed: 0,
      stop: [],
    });
    const parsed = v.parse(TaskInput, { ...input, sampling: {} });
    if (parsed.kind !== "generate") throw new Error("expected a generate input");
    expect(hashTaskInput(parsed)).toBe(hashGenerateInput(parsed.prompt, v.parse(SamplingParams, {})));
  });

  test("limits: stop strings, max_tokens, messages, roles, empty prompts", () => {
    const bad = [
      { ...input, sampling: { ...input.sampling, stop: ["a", "b", "c", "d", "e"] } },
      { ...input, sampling: { ...input.sampling, stop: [""] } },
      { ...input, sampling: { ...input.sampling, max_tokens: GENERATE_LIMITS.maxTokens + 1 } },
      { ...input, sampling: { ...input.sampling, temperature: -0.1 } },
      { ...input, sampling: { ...input.sampling, top_p: 0 } },
      { ...input, sampling: { ...input.sampling, seed: 1.5 } },
      { ...input, prompt: [] },
      { ...input, prompt: "" },
      { ...input, prompt: [{ role: "tool", content: "x" }] },
      { ...input, prompt: "x".repeat(GENERATE_LIMITS.promptChars + 1) },
      {
        ...input,
        prompt: Array.from({ length: GENERATE_LIMITS.messages + 1 }, () => ({ role: "user", content: "x" })),
      },
    ];
    for (const b of bad) expect(v.safeParse(TaskInput, b).success).toBe(false);
    expect(v.safeParse(TaskInput, { ...input, prompt: "Once upon a time" }).success).toBe(true);
  });

  test("the input hash binds the prompt and every sampling parameter, seed included", () => {
    const base = hashTaskInput(v.parse(TaskInput, input));
    const changed = [
      { ...input, prompt: [{ role: "user", content: "Hello!" }] },
      { ...input, sampling: { ...input.sampling, seed: 43 } },
      { ...input, sampling: { ...input.sampling, temperature: 0.8 } },
      { ...input, sampling: { ...input.sampling, top_p: 1 } },
      { ...input, sampling: { ...input.sampling, max_tokens: 17 } },
      { ...input, sampling: { ...input.sampling, stop: [] } },
    ];
    for (const c of changed) expect(hashTaskInput(v.parse(TaskInput, c))).not.toBe(base);
    expect(hashTaskInput(v.parse(TaskInput, { ...input, model: "other" }))).toBe(base);
  });

  test("the output hash binds the tokens, the text, the counts and the finish reason", () => {
    const parsed = v.parse(TaskResult, result);
    const base = hashTaskResult(parsed);
    if (parsed.kind !== "generate") throw new Error("expected a generate result");
    expect(base).toBe(hashGenerateResult(parsed));
    const changed = [
      { ...result, tokens: [17, 902, 3] },
      { ...result, text: "Hi there!" },
      { ...result, prompt_tokens: 10 },
      { ...result, finish_reason: "length" },
    ];
    for (const c of changed) expect(hashTaskResult(v.parse(TaskResult, c))).not.toBe(base);
    expect(hashTokenIds([1, 2])).not.toBe(hashTokenIds([2, 1]));
    expect(hashTokenIds([256])).not.toBe(hashTokenIds([1, 0]));
  });

  test("a result whose completion_tokens does not count its tokens is refused", () => {
    expect(v.safeParse(GenerateResult, { ...result, completion_tokens: 4 }).success).toBe(false);
  });

  test("a generate task frame parses with its prompt and sampling", () => {
    const frame = {
      type: "task",
      taskId: "t-1",
      requestId: "r-1",
      subnet: "llm",
      model: {
        id: "ncn-gpt",
        sha256: `0x${"ab".repeat(32)}`,
        size: 585,
        runtime: "onnx",
        sources: ["npm:@ncn/runtime/assets/ncn-gpt/ncn-gpt.causal-lm"],
        inputs: [],
        outputs: [],
      },
      price: "1",
      deadline: Date.now() + 1000,
      kind: "generate",
      prompt: "And God said",
      sampling: { temperature: 0 },
    };
    const parsed = v.parse(TaskFrame, frame);
    expect(parsed.kind === "generate" && parsed.sampling.max_tokens).toBe(128);
  });
});

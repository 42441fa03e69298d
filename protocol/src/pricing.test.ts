import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { ProtocolError } from "./errors.ts";
import { TaskInput, TaskResult } from "./inference.ts";
import {
  PROMPT_TOKEN_ALLOWANCE,
  promptTokenBound,
  requestCharge,
  requestMaximum,
  taskPricing,
  usageCharge,
} from "./pricing.ts";
import { SubnetRecordBody } from "./records.ts";

const chat = v.parse(TaskInput, {
  kind: "generate",
  model: "ncn-gpt",
  prompt: [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Sing of the sea, ô muse." },
  ],
  sampling: { max_tokens: 32 },
});
const embed = v.parse(TaskInput, { kind: "embed", model: "glove", texts: ["a cat", "a kitten"] });
const tensor = v.parse(TaskInput, {
  kind: "tensor",
  model: "tiny-mlp",
  inputs: { x: { dtype: "float32", dims: [1], data: "AACAPw==" } },
});
const perToken = { price: "1000", pricing: { promptToken: "3", completionToken: "7" } };
const generated = (prompt: number, completion: number) =>
  v.parse(TaskResult, {
    kind: "generate",
    text: "x".repeat(completion),
    tokens: Array.from({ length: completion }, () => 1),
    prompt_tokens: prompt,
    completion_tokens: completion,
    finish_reason: "length",
  });

describe("token pricing", () => {
  test("the prompt bound is UTF-8 bytes plus the template allowance, per message and per prompt", () => {
    const a = PROMPT_TOKEN_ALLOWANCE;
    // "ô" is two bytes: the bound counts bytes, not characters.
    expect(promptTokenBound(chat)).toBe(9 + 25 + 2 * a.perMessage + a.perPrompt);
    expect(promptTokenBound(embed)).toBe(5 + 8 + 2 * a.perText);
    expect(promptTokenBound(tensor)).toBeUndefined();
  });

  test("the maximum is base + prompt bound x prompt price + max_tokens x completion price", () => {
    const bound = BigInt(promptTokenBound(chat) ?? 0);
    expect(requestMaximum(perToken, chat)).toBe(1000n + bound * 3n + 32n * 7n);
    expect(requestMaximum(perToken, embed)).toBe(1000n + BigInt(promptTokenBound(embed) ?? 0) * 3n);
  });

  test("the charge is the real usage, below the maximum", () => {
    const charge = requestCharge(perToken, chat, generated(20, 5));
    expect(charge).toBe(1000n + 20n * 3n + 5n * 7n);
    expect(charge).toBeLessThan(requestMaximum(perToken, chat));
    const embedded = v.parse(TaskResult, {
      kind: "embed",
      dims: 1,
      embeddings: ["AAAAAA==", "AAAAAA=="],
      promptTokens: 3,
    });
    expect(requestCharge(perToken, embed, embedded)).toBe(1009n);
  });

  test("an inflated usage is charged the maximum at most", () => {
    const max = requestMaximum(perToken, chat);
    expect(requestCharge(perToken, chat, generated(1_000_000, 32))).toBe(max);
    expect(requestCharge(perToken, chat, generated(Number.MAX_SAFE_INTEGER, 32))).toBe(max);
    for (let prompt = 1; prompt < 400; prompt += 37) {
      for (const completion of [0, 1, 16, 32]) {
        expect(requestCharge(perToken, chat, generated(prompt, completion))).toBeLessThanOrEqual(max);
      }
    }
  });

  test("tensor tasks and models without per-token prices keep the flat price", () => {
    expect(taskPricing(perToken, tensor)).toBeUndefined();
    expect(requestMaximum(perToken, tensor)).toBe(1000n);
    expect(requestMaximum({ price: "500" }, chat)).toBe(500n);
    expect(requestCharge({ price: "500" }, chat, generated(900, 32))).toBe(500n);
  });

  test("huge prices never overflow silently: past a uint256 the maximum is refused", () => {
    const top = (2n ** 256n - 1n).toString();
    const huge = { price: top, pricing: { promptToken: top, completionToken: top } };
    expect(() => requestMaximum(huge, chat)).toThrow(ProtocolError);
    const fits = { price: "0", pricing: { promptToken: "0", completionToken: (2n ** 200n).toString() } };
    expect(requestMaximum(fits, chat)).toBe(32n * 2n ** 200n);
  });

  test("token counts that are not non-negative integers are refused", () => {
    const pricing = { base: "1", promptToken: "1", completionToken: "1" };
    expect(() => usageCharge(pricing, { promptTokens: -1, completionTokens: 0 }, 10n)).toThrow(ProtocolError);
    expect(() => usageCharge(pricing, { promptTokens: 1.5, completionTokens: 0 }, 10n)).toThrow(
      ProtocolError,
    );
    expect(() => usageCharge(pricing, { promptTokens: 1e300, completionTokens: 0 }, 10n)).toThrow(
      ProtocolError,
    );
  });

  test("a result of another kind than the task is refused", () => {
    expect(() => requestCharge(perToken, embed, generated(3, 1))).toThrow(ProtocolError);
  });

  test("subnet records carry per-token prices beside the per-request price", () => {
    const body = {
      id: "chat",
      name: "Chat",
      owner: `0x${"1".repeat(40)}`,
      models: [
        { id: "ncn-gpt", ...perToken },
        { id: "tiny-mlp", price: "5" },
      ],
    };
    expect(v.parse(SubnetRecordBody, body).models[0]?.pricing).toEqual(perToken.pricing);
    const bad = {
      ...body,
      models: [{ id: "ncn-gpt", price: "1", pricing: { promptToken: "-1", completionToken: "1" } }],
    };
    expect(v.safeParse(SubnetRecordBody, bad).success).toBe(false);
  });
});

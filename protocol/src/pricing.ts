import * as v from "valibot";
import { ProtocolError } from "./errors.ts";
import type { TaskInput, TaskResult } from "./inference.ts";
import { UintString } from "./primitives.ts";

/** Per-token prices of a model in a subnet, in NCN base units per token. */
export const TokenPrices = v.object({ promptToken: UintString, completionToken: UintString });
export type TokenPrices = v.InferOutput<typeof TokenPrices>;

/**
 * How a task is priced when its model is priced per token: the subnet's base fee per request
 * and its per-token prices. A task frame carries it so that the agent computes the charge its
 * receipt binds; gateways and validators compute the same from the result.
 */
export const TaskPricing = v.object({ base: UintString, ...TokenPrices.entries });
export type TaskPricing = v.InferOutput<typeof TaskPricing>;

/** A model's entry in a subnet record: a base fee per request, and per-token prices when set. */
export interface ModelPrice {
  price: string;
  pricing?: TokenPrices | undefined;
}

/** Tokens a result says the model read and wrote. */
export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * What the prompt-token bound adds to the UTF-8 bytes of the texts: a byte-level BPE or
 * WordPiece tokenizer makes at most one token per byte, and a chat template or the special
 * tokens around a text add a few per message (`perMessage`, `perText`) and per prompt
 * (`perPrompt`: a beginning-of-text token, the generation prompt, a default system message).
 */
export const PROMPT_TOKEN_ALLOWANCE = { perPrompt: 64, perMessage: 8, perText: 8 } as const;

const MAX_UINT256 = 2n ** 256n - 1n;
const encoder = new TextEncoder();

function utf8Bytes(text: string): number {
  return encoder.encode(text).byteLength;
}

/**
 * An upper bound of the prompt tokens of a `generate` or `embed` task, computed without a
 * tokenizer (UTF-8 bytes plus `PROMPT_TOKEN_ALLOWANCE`); undefined for other kinds.
 *
 * @example promptTokenBound({ kind: "embed", model: "glove", texts: ["a cat"] }) // 5 + 8
 */
export function promptTokenBound(input: TaskInput): number | undefined {
  const a = PROMPT_TOKEN_ALLOWANCE;
  if (input.kind === "embed") return input.texts.reduce((n, t) => n + utf8Bytes(t) + a.perText, 0);
  if (input.kind !== "generate") return undefined;
  const prompt = input.prompt;
  if (typeof prompt === "string") return utf8Bytes(prompt) + a.perPrompt;
  return prompt.reduce<number>((n, m) => n + utf8Bytes(m.content) + a.perMessage, a.perPrompt);
}

/**
 * The per-token pricing that applies to a task: the model's per-token prices on a `generate`
 * or `embed` task, undefined when the task is priced per request (tensor and OCR tasks, or a
 * model without per-token prices).
 */
export function taskPricing(model: ModelPrice, input: TaskInput): TaskPricing | undefined {
  if (!model.pricing || (input.kind !== "generate" && input.kind !== "embed")) return undefined;
  return { base: model.price, ...model.pricing };
}

function checkedUint(amount: bigint): bigint {
  if (amount > MAX_UINT256) {
    throw new ProtocolError("INVALID_INPUT", "the request's maximum price exceeds a uint256", {
      details: { maximum: amount.toString() },
    });
  }
  return amount;
}

/**
 * What a request may cost at most, authorised before it runs: the base fee, plus the prompt
 * bound times the prompt-token price and `max_tokens` times the completion-token price when
 * the model is priced per token. Throws `INVALID_INPUT` past a uint256.
 *
 * @example requestMaximum({ price: "100", pricing: { promptToken: "2", completionToken: "3" } }, task)
 */
export function requestMaximum(model: ModelPrice, input: TaskInput): bigint {
  const pricing = taskPricing(model, input);
  if (!pricing) return checkedUint(BigInt(model.price));
  const prompt = BigInt(promptTokenBound(input) ?? 0);
  const completion = BigInt(input.kind === "generate" ? input.sampling.max_tokens : 0);
  return checkedUint(
    BigInt(pricing.base) +
      prompt * BigInt(pricing.promptToken) +
      completion * BigInt(pricing.completionToken),
  );
}

/** The tokens a `generate` or `embed` result counts; undefined for other kinds. */
export function usageOf(result: TaskResult): TokenUsage | undefined {
  if (result.kind === "generate") {
    return { promptTokens: result.prompt_tokens, completionTokens: result.completion_tokens };
  }
  if (result.kind === "embed") return { promptTokens: result.promptTokens, completionTokens: 0 };
  return undefined;
}

/**
 * The charge of a usage: base + prompt tokens x prompt price + completion tokens x completion
 * price, never above `maximum` (what was authorised). Token counts that are not non-negative
 * integers are refused (`INVALID_INPUT`).
 *
 * @example usageCharge({ base: "100", promptToken: "2", completionToken: "3" }, { promptTokens: 10, completionTokens: 5 }, 1000n) // 135n
 */
export function usageCharge(pricing: TaskPricing, usage: TokenUsage, maximum: bigint): bigint {
  for (const n of [usage.promptTokens, usage.completionTokens]) {
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new ProtocolError("INVALID_INPUT", "token counts must be non-negative integers");
    }
  }
  const charge =
    BigInt(pricing.base) +
    BigInt(usage.promptTokens) * BigInt(pricing.promptToken) +
    BigInt(usage.completionTokens) * BigInt(pricing.completionToken);
  return charge < maximum ? charge : maximum;
}

/**
 * What a request is charged for its result: the per-request price, or for a model priced per
 * token the charge of the result's usage, capped at `requestMaximum`. The agent's receipt
 * binds it; gateways and validators refuse a receipt with another price.
 *
 * @example requestCharge(entry, task, result) <= requestMaximum(entry, task) // always
 */
export function requestCharge(model: ModelPrice, input: TaskInput, result: TaskResult): bigint {
  const maximum = requestMaximum(model, input);
  const pricing = taskPricing(model, input);
  if (!pricing) return maximum;
  const usage = usageOf(result);
  if (!usage || result.kind !== input.kind) {
    throw new ProtocolError("INVALID_INPUT", "the result is not of the task's kind");
  }
  return usageCharge(pricing, usage, maximum);
}

/**
 * The charge of a task's result under the terms a task frame (or the gateway's request)
 * carries: `price` when there is no `pricing`, else the usage's charge capped at `price` (the
 * maximum authorised). What an agent's receipt binds and what the gateway expects of it.
 *
 * @example taskCharge({ price: task.price, pricing: task.pricing }, result)
 */
export function taskCharge(
  terms: { price: string; pricing?: TaskPricing | undefined },
  result: TaskResult,
): bigint {
  if (!terms.pricing) return BigInt(terms.price);
  const usage = usageOf(result);
  if (!usage) throw new ProtocolError("INVALID_INPUT", "a result priced per token must count its tokens");
  return usageCharge(terms.pricing, usage, BigInt(terms.price));
}

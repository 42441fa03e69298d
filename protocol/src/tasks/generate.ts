import * as v from "valibot";

/**
 * Bounds of a `generate` task: every string and array a client or agent supplies has a
 * limit, so a task or result frame stays small and a validator's re-check stays cheap.
 */
export const GENERATE_LIMITS = {
  /** Messages in a chat prompt. */
  messages: 64,
  /** Characters of one message, and of a raw prompt. */
  promptChars: 32_000,
  /** Characters of all messages of a chat prompt together. */
  chatChars: 64_000,
  /** Tokens one task may generate. */
  maxTokens: 4096,
  /** Stop strings, and the characters of each. */
  stops: 4,
  stopChars: 64,
  /** Characters of the generated text (a token decodes to a few bytes; this is generous). */
  textChars: 4096 * 64,
  /** Largest sampling temperature. */
  temperature: 2,
  /** Token deltas in one `tokens` frame (an agent coalesces what a few milliseconds produce). */
  deltasPerFrame: 64,
  /** Characters of one delta's text (a token, or the held-back text the last flush releases). */
  deltaChars: 1024,
} as const;

export const ChatRole = v.picklist(["system", "user", "assistant"], "role must be system, user or assistant");
export type ChatRole = v.InferOutput<typeof ChatRole>;

export const ChatMessage = v.object({
  role: ChatRole,
  content: v.pipe(v.string(), v.maxLength(GENERATE_LIMITS.promptChars)),
});
export type ChatMessage = v.InferOutput<typeof ChatMessage>;

/** A raw prompt (text the model continues) or chat messages (rendered by the model's chat template). */
export const GeneratePrompt = v.union([
  v.pipe(v.string(), v.minLength(1, "prompt is empty"), v.maxLength(GENERATE_LIMITS.promptChars)),
  v.pipe(
    v.array(ChatMessage),
    v.minLength(1, "at least one message"),
    v.maxLength(GENERATE_LIMITS.messages),
    v.check(
      (messages) => messages.reduce((sum, m) => sum + m.content.length, 0) <= GENERATE_LIMITS.chatChars,
      `messages hold at most ${GENERATE_LIMITS.chatChars} characters together`,
    ),
  ),
]);
export type GeneratePrompt = v.InferOutput<typeof GeneratePrompt>;

/**
 * How tokens are chosen. `temperature: 0` is greedy (argmax); otherwise tokens are drawn
 * from the softmax at `temperature`, cut to the smallest set whose mass reaches `top_p`,
 * with a PRNG seeded by `seed`: the same seed gives the same tokens on the same model.
 */
export const SamplingParams = v.object({
  max_tokens: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(GENERATE_LIMITS.maxTokens)),
    128,
  ),
  temperature: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(GENERATE_LIMITS.temperature)), 1),
  top_p: v.optional(v.pipe(v.number(), v.gtValue(0, "top_p must be above 0"), v.maxValue(1)), 1),
  seed: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff)), 0),
  stop: v.optional(
    v.pipe(
      v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(GENERATE_LIMITS.stopChars))),
      v.maxLength(GENERATE_LIMITS.stops),
    ),
    [],
  ),
});
export type SamplingParams = v.InferOutput<typeof SamplingParams>;

/** Why generation ended: a stop string or the model's end token (`stop`), or `max_tokens` or the context (`length`). */
export const FinishReason = v.picklist(["stop", "length"]);
export type FinishReason = v.InferOutput<typeof FinishReason>;

/** A token id (a vocabulary index). */
export const TokenIdSchema = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffff_ffff));
const TokenIds = v.pipe(v.array(TokenIdSchema), v.maxLength(GENERATE_LIMITS.maxTokens));

/**
 * Text a generating model made final, as it streams: the token at `index` among the generated
 * ones and the text it released (`token: null` and `index` = the token count for the last
 * flush of held-back text). The texts of a task's deltas, joined in index order, are its
 * result's `text`.
 */
export const TokenDelta = v.object({
  index: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(GENERATE_LIMITS.maxTokens)),
  token: v.nullable(TokenIdSchema),
  text: v.pipe(v.string(), v.maxLength(GENERATE_LIMITS.deltaChars)),
});
export type TokenDelta = v.InferOutput<typeof TokenDelta>;

/** A run of deltas with consecutive indexes (what one `tokens` frame carries). */
export const TokenDeltas = v.pipe(
  v.array(TokenDelta),
  v.minLength(1, "at least one delta"),
  v.maxLength(GENERATE_LIMITS.deltasPerFrame),
  v.check(
    (deltas) => deltas.every((d, i) => i === 0 || d.index === (deltas[i - 1]?.index ?? -2) + 1),
    "delta indexes must be consecutive",
  ),
);

/** A generate task's result: the text, the token ids it decodes from, and the counts a price uses. */
export const GenerateResult = v.pipe(
  v.object({
    kind: v.literal("generate"),
    text: v.pipe(v.string(), v.maxLength(GENERATE_LIMITS.textChars)),
    /** The generated token ids (the end token and tokens past a stop string excluded). */
    tokens: TokenIds,
    prompt_tokens: v.pipe(v.number(), v.integer(), v.minValue(1)),
    completion_tokens: v.pipe(v.number(), v.integer(), v.minValue(0)),
    finish_reason: FinishReason,
  }),
  v.check((r) => r.completion_tokens === r.tokens.length, "completion_tokens must count tokens"),
);
export type GenerateResult = v.InferOutput<typeof GenerateResult>;

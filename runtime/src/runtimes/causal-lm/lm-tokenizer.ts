import { Template } from "@huggingface/jinja";
import { Tokenizer } from "@huggingface/tokenizers";
import type { ChatMessage } from "@ncn/protocol";
import * as v from "valibot";
import { RuntimeError } from "../../errors.ts";

/** A special token as `tokenizer_config.json` writes it: a string or an AddedToken object. */
const SpecialToken = v.nullish(v.union([v.string(), v.looseObject({ content: v.string() })]));

/** The fields of `tokenizer_config.json` generation reads; the rest is passed to the tokenizer as is. */
export const TokenizerConfig = v.looseObject({
  chat_template: v.optional(
    v.union([v.string(), v.array(v.looseObject({ name: v.string(), template: v.string() }))]),
  ),
  bos_token: SpecialToken,
  eos_token: SpecialToken,
});
export type TokenizerConfig = v.InferOutput<typeof TokenizerConfig>;

/** The shape of a `tokenizer.json` (its model section is checked by the tokenizer itself). */
const TokenizerJson = v.looseObject({ model: v.looseObject({ type: v.optional(v.string()) }) });

function tokenText(token: v.InferOutput<typeof SpecialToken>): string | undefined {
  if (token === null || token === undefined) return undefined;
  return typeof token === "string" ? token : token.content;
}

function parseJson<S extends v.GenericSchema>(schema: S, bytes: Uint8Array, what: string): v.InferOutput<S> {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    json = undefined;
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) throw new RuntimeError("MODEL_REJECTED", `the model's ${what} is not valid`);
  return parsed.output;
}

/**
 * A Hugging Face tokenizer (`tokenizer.json` + `tokenizer_config.json`) with the model's
 * chat template and end tokens: what turns a prompt into ids and ids back into text.
 *
 * @example
 * const tok = LmTokenizer.fromBytes(tokenizerJson, tokenizerConfigJson);
 * const ids = tok.encodePrompt([{ role: "user", content: "Hello" }]);
 */
export class LmTokenizer {
  readonly #tokenizer: Tokenizer;
  readonly #config: TokenizerConfig;
  readonly #template: Template | undefined;
  /** Ids that end generation: `eos_token` and the manifest's `endTokens`. */
  readonly endTokenIds: ReadonlySet<number>;

  private constructor(tokenizer: Tokenizer, config: TokenizerConfig, endTokens: readonly string[]) {
    this.#tokenizer = tokenizer;
    this.#config = config;
    const source = Array.isArray(config.chat_template)
      ? config.chat_template.find((t) => t.name === "default")?.template
      : config.chat_template;
    try {
      this.#template = source === undefined ? undefined : new Template(source);
    } catch (e) {
      throw new RuntimeError("MODEL_REJECTED", "the model's chat template does not parse", { cause: e });
    }
    const ends = new Set<number>();
    for (const token of [tokenText(config.eos_token), ...endTokens]) {
      const id = token === undefined ? undefined : tokenizer.token_to_id(token);
      if (id !== undefined) ends.add(id);
    }
    this.endTokenIds = ends;
  }

  static fromBytes(
    tokenizerJson: Uint8Array,
    configJson: Uint8Array,
    endTokens: readonly string[] = [],
  ): LmTokenizer {
    const json = parseJson(TokenizerJson, tokenizerJson, "tokenizer.json");
    const config = parseJson(TokenizerConfig, configJson, "tokenizer_config.json");
    let tokenizer: Tokenizer;
    try {
      tokenizer = new Tokenizer(json, config);
    } catch (e) {
      throw new RuntimeError("MODEL_REJECTED", "the model's tokenizer cannot be loaded", { cause: e });
    }
    return new LmTokenizer(tokenizer, config, endTokens);
  }

  get hasChatTemplate(): boolean {
    return this.#template !== undefined;
  }

  /** The text the chat template makes of messages, ending where the assistant's answer starts. */
  renderChat(messages: readonly ChatMessage[]): string {
    if (!this.#template)
      throw new RuntimeError("INVALID_INPUT", "this model has no chat template: send a prompt");
    try {
      return this.#template.render({
        messages,
        add_generation_prompt: true,
        bos_token: tokenText(this.#config.bos_token) ?? "",
        eos_token: tokenText(this.#config.eos_token) ?? "",
      });
    } catch (e) {
      throw new RuntimeError("INVALID_INPUT", `the chat template refused the messages: ${String(e)}`);
    }
  }

  /**
   * The prompt's ids. A raw prompt gets the tokenizer's own special tokens (a BOS where the
   * model adds one); rendered chat text already holds what the template puts there.
   */
  encodePrompt(prompt: string | readonly ChatMessage[]): number[] {
    return typeof prompt === "string"
      ? this.#tokenizer.encode(prompt).ids
      : this.#tokenizer.encode(this.renderChat(prompt), { add_special_tokens: false }).ids;
  }

  /** Text of ids, special tokens left out. */
  decode(ids: readonly number[]): string {
    return this.#tokenizer.decode([...ids], { skip_special_tokens: true });
  }

  /** The id of a token string (a special token such as `<|end|>`), if the vocabulary has it. */
  tokenId(token: string): number | undefined {
    return this.#tokenizer.token_to_id(token);
  }
}

import { BaseError, type ErrorCode, toBaseError } from "@ncn/protocol";
import { SOURCE_RULES, type SourceRule } from "./store/source-policy.ts";

/**
 * Every failure of a model runtime (fetching a model, opening it, running it) carries a
 * protocol error code, so that an agent can send it to the gateway unchanged in an
 * `error` frame and a validator can tell a bad model from a broken node.
 *
 * @example throw new RuntimeError("MODEL_HASH_MISMATCH", "model bytes do not match their sha256");
 */
export class RuntimeError<C extends ErrorCode = ErrorCode> extends BaseError<C> {
  override name = "RuntimeError";
}

/**
 * A model source refused by the source policy or size limits. The message names
 * the source by its place in the model's list and the rule, never its path or URL, the
 * size or hash of anything on disk, or what a remote server answered.
 *
 * @example throw new ModelSourceError("FORBIDDEN", "private_host", { model: "tiny-mlp", sourceIndex: 0 });
 */
export class ModelSourceError<C extends ErrorCode = ErrorCode> extends RuntimeError<C> {
  override name = "ModelSourceError";
  readonly rule: SourceRule;

  constructor(code: C, rule: SourceRule, where: { model: string; sourceIndex?: number }) {
    const what = where.sourceIndex === undefined ? `model ${where.model}` : `source ${where.sourceIndex + 1}`;
    super(code, `${what} refused: ${rule} (${SOURCE_RULES[rule]})`, {
      details: {
        model: where.model,
        ...(where.sourceIndex === undefined ? {} : { source: where.sourceIndex + 1 }),
        rule,
      },
    });
    this.rule = rule;
  }
}

/** The error code and message of anything thrown, for an `error` frame or a log line. */
export function describeError(e: unknown): { code: ErrorCode; message: string } {
  const err = toBaseError(e);
  return { code: err.code, message: err.shortMessage };
}

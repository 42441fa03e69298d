import { BaseError, type BaseErrorOptions, type ErrorCode, toBaseError } from "@ncn/protocol";
import { SOURCE_RULES, type SourceRule } from "./store/source-policy.ts";

/**
 * Every failure the agent reports carries a protocol error code, so that a task error
 * travels to the gateway unchanged in an `error` frame.
 *
 * @example throw new AgentError("MODEL_HASH_MISMATCH", "model bytes do not match their sha256");
 */
export class AgentError<C extends ErrorCode = ErrorCode> extends BaseError<C> {
  override name = "AgentError";
}

/**
 * A model source refused by the agent's source policy or size limits. The message names
 * the source by its place in the model's list and the rule, never its path or URL, the
 * size or hash of anything on disk, or what a remote server answered.
 *
 * @example throw new ModelSourceError("FORBIDDEN", "private_host", { model: "tiny-mlp", sourceIndex: 0 });
 */
export class ModelSourceError<C extends ErrorCode = ErrorCode> extends AgentError<C> {
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

/** A problem with the agent's own configuration (flags, env, files); lists every issue. */
export class ConfigError extends BaseError<"INVALID_INPUT"> {
  override name = "ConfigError";
  readonly problems: readonly string[];

  constructor(problems: readonly string[], options: BaseErrorOptions = {}) {
    super("INVALID_INPUT", `invalid configuration:\n  - ${problems.join("\n  - ")}`, options);
    this.problems = problems;
  }
}

/** The error code and message of anything thrown, for an `error` frame or a log line. */
export function describeError(e: unknown): { code: ErrorCode; message: string } {
  const err = toBaseError(e);
  return { code: err.code, message: err.shortMessage };
}

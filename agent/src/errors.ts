import { BaseError, type BaseErrorOptions, type ErrorCode } from "@ncn/protocol";

export { describeError } from "@ncn/runtime";

/**
 * A failure of the agent's own parts (the gateway link, the task queue, the CLI), with a
 * protocol error code so that it travels to the gateway unchanged in an `error` frame.
 * What fails while fetching or running a model is a `RuntimeError` of `@ncn/runtime`.
 *
 * @example throw new AgentError("CONFLICT", "task t1 is already queued or running");
 */
export class AgentError<C extends ErrorCode = ErrorCode> extends BaseError<C> {
  override name = "AgentError";
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

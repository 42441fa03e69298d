import { BaseError, type BaseErrorOptions, type ErrorCode } from "@ncn/protocol";

/** Root of the registry's own errors; carries a protocol error code and maps to its HTTP status. */
export class RegistryError<C extends ErrorCode = ErrorCode> extends BaseError<C> {
  override name = "RegistryError";
}

/** Invalid start-up configuration; `problems` lists every bad setting. */
export class ConfigError extends RegistryError<"INVALID_INPUT"> {
  override name = "ConfigError";
  readonly problems: string[];
  constructor(problems: string[]) {
    super("INVALID_INPUT", `invalid configuration:\n  ${problems.join("\n  ")}`, { details: { problems } });
    this.problems = problems;
  }
}

/** A record was refused by the DHT validator or the local index. */
export class RecordRejectedError<C extends ErrorCode = ErrorCode> extends RegistryError<C> {
  override name = "RecordRejectedError";
}

/** A validation request was refused; the code says why (payment, model, agent, receipt...). */
export class ValidationRefusedError<C extends ErrorCode = ErrorCode> extends RegistryError<C> {
  override name = "ValidationRefusedError";
}

/** The chain could not be read. */
export class ChainReadError extends RegistryError<"CHAIN_ERROR"> {
  override name = "ChainReadError";
  constructor(message: string, options: BaseErrorOptions = {}) {
    super("CHAIN_ERROR", message, options);
  }
}

/** This node cannot do what was asked (no validator key, no chain, no re-executor). */
export class UnavailableError extends RegistryError<"UNAVAILABLE"> {
  override name = "UnavailableError";
  constructor(message: string, options: BaseErrorOptions = {}) {
    super("UNAVAILABLE", message, options);
  }
}

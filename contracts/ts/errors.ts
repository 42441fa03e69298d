/** What went wrong, as a stable literal callers can switch on. */
export type ContractsErrorCode =
  | "ANVIL_NOT_FOUND"
  | "ANVIL_START_FAILED"
  | "TRANSACTION_REVERTED"
  | "EVENT_NOT_FOUND"
  | "INVALID_ARGUMENT";

/**
 * Error of the contract bindings. Reverts surfaced by viem during gas estimation keep their
 * viem type (with the decoded custom error); see {@link revertOf}.
 */
export class ContractsError extends Error {
  override readonly name = "ContractsError";
  readonly code: ContractsErrorCode;
  readonly details: unknown;

  constructor(
    code: ContractsErrorCode,
    message: string,
    options: { cause?: unknown; details?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details;
  }
}

import { BaseError, type BaseErrorOptions } from "@ncn/protocol";

/** Why a contracts binding failed, finer than the protocol error code it maps to. */
export const contractsErrorCodes = {
  ANVIL_NOT_FOUND: "UNAVAILABLE",
  ANVIL_START_FAILED: "UNAVAILABLE",
  TRANSACTION_REVERTED: "CHAIN_ERROR",
  EVENT_NOT_FOUND: "CHAIN_ERROR",
  INVALID_ARGUMENT: "INVALID_INPUT",
} as const;
export type ContractsErrorReason = keyof typeof contractsErrorCodes;

/**
 * Error of the contract bindings. Reverts caught by viem during gas estimation keep their viem
 * type (with the decoded custom error); see `revertOf`.
 *
 * @example
 * catch (e) { if (e instanceof ContractsError && e.reason === "TRANSACTION_REVERTED") ... }
 */
export class ContractsError extends BaseError<(typeof contractsErrorCodes)[ContractsErrorReason]> {
  override name = "ContractsError";
  readonly reason: ContractsErrorReason;

  constructor(reason: ContractsErrorReason, message: string, options: BaseErrorOptions = {}) {
    super(contractsErrorCodes[reason], message, options);
    this.reason = reason;
  }
}

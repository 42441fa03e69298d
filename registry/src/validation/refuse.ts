import type { ErrorCode } from "@ncn/protocol";
import { ValidationRefusedError } from "../errors.ts";

/**
 * A typed refusal: `code` is the protocol error code, `reason` a stable snake_case name of
 * the failed check (in `details.reason`), `field` the request field it is about.
 */
export function refuse(
  code: ErrorCode,
  reason: string,
  message: string,
  extra: Record<string, unknown> = {},
): ValidationRefusedError {
  return new ValidationRefusedError(code, message, { details: { reason, ...extra } });
}

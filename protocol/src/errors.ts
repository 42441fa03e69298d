import * as v from "valibot";

/**
 * Every error code the network reports, with the HTTP status it maps to. A code is
 * stable API: clients switch on it; the message is for people.
 */
export const ERROR_STATUS = {
  BAD_REQUEST: 400,
  INVALID_INPUT: 400,
  TENSOR_INVALID: 400,
  FRAME_INVALID: 400,
  UNAUTHORIZED: 401,
  SIGNATURE_INVALID: 401,
  /** An API key that is missing, malformed, or names a session this gateway does not know. */
  INVALID_API_KEY: 401,
  /** An API key whose signer its session no longer names (revoked, or replaced by another key). */
  API_KEY_REVOKED: 401,
  PAYMENT_REQUIRED: 402,
  INSUFFICIENT_FUNDS: 402,
  PAYMENT_EXPIRED: 402,
  FORBIDDEN: 403,
  /** A subnet or model name that another key claimed first (on chain, or first seen). */
  NAME_TAKEN: 403,
  NOT_FOUND: 404,
  MODEL_NOT_FOUND: 404,
  SUBNET_NOT_FOUND: 404,
  REQUEST_NOT_FOUND: 404,
  CONFLICT: 409,
  CANCELLED: 409,
  STALE_RECORD: 409,
  PAYLOAD_TOO_LARGE: 413,
  MODEL_HASH_MISMATCH: 422,
  /** The model is well-formed but asks for something the network never does (external data). */
  MODEL_REJECTED: 422,
  /** The model needs more than the agent's limits allow (output size, declared shapes). */
  MODEL_LIMIT_EXCEEDED: 422,
  /** A run of the model went past the agent's time limit and was stopped. */
  MODEL_TIMEOUT: 422,
  VALIDATION_REFUSED: 422,
  SANDBOX_REFUSED: 422,
  SANDBOX_EXIT: 422,
  SANDBOX_TIMEOUT: 422,
  SANDBOX_MEMORY: 422,
  SANDBOX_OUTPUT_TOO_LARGE: 422,
  RATE_LIMITED: 429,
  INTERNAL: 500,
  INFERENCE_FAILED: 502,
  /** A streaming request's agent failed after some of its tokens reached the client: not retried elsewhere. */
  STREAM_INTERRUPTED: 502,
  CHAIN_ERROR: 502,
  VALIDATOR_UNAVAILABLE: 502,
  NO_AGENT_AVAILABLE: 503,
  UNAVAILABLE: 503,
  DEADLINE_EXCEEDED: 504,
  AGENT_TIMEOUT: 504,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;
export const ERROR_CODES = Object.keys(ERROR_STATUS) as ErrorCode[];
export const ErrorCodeSchema = v.picklist(ERROR_CODES as [ErrorCode, ...ErrorCode[]]);

/**
 * The codes of a refused payment: the request's own fault (no payment, too little, too late),
 * so another agent would fare no better, and the client is told how to pay.
 */
export const PAYMENT_ERROR_CODES = [
  "PAYMENT_REQUIRED",
  "INSUFFICIENT_FUNDS",
  "PAYMENT_EXPIRED",
] as const satisfies readonly ErrorCode[];
export type PaymentErrorCode = (typeof PAYMENT_ERROR_CODES)[number];

/** Whether `code` says the payment was refused (see `PAYMENT_ERROR_CODES`). */
export function isPaymentErrorCode(code: string): code is PaymentErrorCode {
  return (PAYMENT_ERROR_CODES as readonly string[]).includes(code);
}

export interface BaseErrorOptions {
  details?: unknown;
  cause?: unknown;
}

/**
 * Root of every typed error. `shortMessage` is the one-line reason; `details` is
 * machine-readable context (field paths, amounts) that is safe to show a client.
 *
 * @example
 * throw new BaseError("MODEL_NOT_FOUND", `model ${id} is not registered`, { details: { id } });
 */
export class BaseError<C extends ErrorCode = ErrorCode> extends Error {
  override name = "BaseError";
  readonly code: C;
  readonly shortMessage: string;
  readonly details: unknown;

  constructor(code: C, shortMessage: string, options: BaseErrorOptions = {}) {
    super(shortMessage, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.shortMessage = shortMessage;
    this.details = options.details;
  }

  get status(): (typeof ERROR_STATUS)[C] {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return errorBody(this.code, this.shortMessage, this.details);
  }
}

/** What `toBaseError` makes of a value that is not a `BaseError`. */
export interface ToBaseErrorFallback {
  /** Its code (default `INTERNAL`). */
  code?: ErrorCode;
  /** A fixed message instead of the value's own text (which may hold what a caller must not see). */
  message?: string;
}

/**
 * Anything thrown as a typed error: a `BaseError` as it is; anything else as a `BaseError`
 * with the fallback's code (`INTERNAL`) and its own text, or the fallback's fixed message.
 * The original stays reachable as `cause` (never in the public body).
 *
 * @example
 * catch (e) { const err = toBaseError(e, { message: "internal error" }); return Response.json(err.toBody(), { status: err.status }); }
 */
export function toBaseError(e: unknown, fallback: ToBaseErrorFallback = {}): BaseError {
  if (e instanceof BaseError) return e;
  const message = fallback.message ?? (e instanceof Error ? e.message : String(e));
  return new BaseError(fallback.code ?? "INTERNAL", message, { cause: e });
}

/** Raised when wire data breaks the protocol (bad schema, bad frame, bad tensor). */
export class ProtocolError<C extends ErrorCode = ErrorCode> extends BaseError<C> {
  override name = "ProtocolError";
}

/**
 * The error `type` of the OpenAI error envelope, by HTTP status: a client written for that
 * API switches on it, ours on `code`. 402 is `insufficient_quota` (a spent deposit).
 */
export function errorTypeOf(status: number): string {
  if (status === 401) return "authentication_error";
  if (status === 402) return "insufficient_quota";
  if (status === 403) return "permission_error";
  if (status === 429) return "rate_limit_error";
  if (status >= 500) return "server_error";
  return "invalid_request_error";
}

/**
 * The public error body: `{ "error": { "code", "message", "type", "param", "details"? } }`,
 * which is also the OpenAI error envelope (`message`, `type`, `param`, `code`), so one body
 * serves both the network's own API and the OpenAI-compatible one. `param` names the
 * offending field where one is known (`details.field`), else null.
 */
export const ErrorBody = v.object({
  error: v.object({
    code: ErrorCodeSchema,
    message: v.string(),
    type: v.optional(v.string()),
    param: v.optional(v.nullable(v.string())),
    details: v.optional(v.unknown()),
  }),
});
export type ErrorBody = v.InferOutput<typeof ErrorBody>;

export function errorBody(code: ErrorCode, message: string, details?: unknown): ErrorBody {
  const field =
    typeof details === "object" && details !== null && "field" in details && typeof details.field === "string"
      ? details.field
      : null;
  const error = { code, message, type: errorTypeOf(ERROR_STATUS[code]), param: field };
  return details === undefined ? { error } : { error: { ...error, details } };
}

/** Rebuilds a typed error from a public error body (used by the SDK). */
export function errorFromBody(body: unknown, fallbackStatus = 500): BaseError {
  const parsed = v.safeParse(ErrorBody, body);
  if (!parsed.success) {
    return new BaseError(
      fallbackStatus >= 500 ? "INTERNAL" : "BAD_REQUEST",
      `unexpected error body (HTTP ${fallbackStatus})`,
      {
        details: body,
      },
    );
  }
  const { code, message, details } = parsed.output.error;
  return new BaseError(code, message, { details });
}

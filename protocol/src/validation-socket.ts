/**
 * The validation socket (`/v1/validate/ws`) a gateway keeps open to each validator: the
 * limits both ends keep and the close codes a validator ends it with.
 */

/** Path a gateway opens a validation socket on. */
export const VALIDATE_SOCKET_PATH = "/v1/validate/ws";

/**
 * Largest message on a validation socket. A validator refuses a frame whose header declares
 * more, before reading its body; a gateway sends a larger batch over HTTP instead.
 */
export const VALIDATION_SOCKET_MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/** Why a validator closed a validation socket. Codes 4000-4999 are ours; 1009 is the standard's. */
export const VALIDATION_SOCKET_CLOSE = {
  /** A message larger than `VALIDATION_SOCKET_MAX_MESSAGE_BYTES` (WebSocket "message too big"). */
  MESSAGE_TOO_BIG: 1009,
  /** The gateway token the socket was opened with has expired: open a new one with a fresh token. */
  TOKEN_EXPIRED: 4401,
  /** The gateway sent faster than the socket's rate allows. */
  RATE_LIMITED: 4429,
} as const;
export type ValidationSocketCloseCode =
  (typeof VALIDATION_SOCKET_CLOSE)[keyof typeof VALIDATION_SOCKET_CLOSE];

import {
  BaseError,
  STREAM_MAX_IN_FLIGHT,
  STREAM_PROTOCOL_VERSION,
  type StreamClientFrame,
  type StreamInferFrame,
  type StreamServerFrame,
} from "@ncn/protocol";
import { takeToken } from "../rate-limit.ts";
import type {
  PricedRequest,
  StreamConfig,
  StreamControl,
  StreamEffect,
  StreamEvent,
  StreamStep,
} from "./types.ts";

type Frame<T extends StreamServerFrame["type"]> = Extract<StreamServerFrame, { type: T }>;

/** The limits every stream runs under (the SDK sends a few vouchers per second at most). */
export const STREAM_LIMITS: StreamConfig = {
  maxInFlight: STREAM_MAX_IN_FLIGHT,
  leaseRequests: 256n,
  framesBurst: 4096,
  framesPerSecond: 2048,
  vouchersBurst: 64,
  vouchersPerSecond: 32,
};

const NONE: readonly never[] = [];

/** A stream just accepted, not yet challenged: step it with `open`. */
export function newStream<J extends PricedRequest>(
  sessionId: `0x${string}`,
  subnet: string,
  nonce: `0x${string}`,
): StreamControl<J> {
  return {
    sessionId,
    subnet,
    nonce,
    phase: "challenged",
    authPending: false,
    authorised: false,
    frames: undefined,
    vouchers: undefined,
    standing: { authorised: "0", charged: "0", deposit: "0" },
    top: undefined,
    lease: 0n,
    leasing: false,
    waiting: [],
  };
}

/**
 * A session stream's rules for one event: the next control state and what the shell must do.
 * Pure, and cheap on the request path: an admitted request changes nothing and allocates
 * nothing; a spent one copies the small control record once.
 *
 * Rules kept here: a stream is ready only once the session's client signed its fresh
 * challenge; a voucher before that, a voucher the client did not sign, or frames faster
 * than the limits close the stream (4003, 4008) and its lease goes back; at most
 * `maxInFlight` requests are in flight and an id is in flight once; a request is sent to an
 * agent only with credit leased for it, and requests past what the vouchers authorise get a
 * 402 and cost nothing; credit not spent goes back when the stream closes.
 *
 * @example
 * const { state, effects } = step(control, { type: "frame", frame }, Date.now(), STREAM_LIMITS);
 */
export function step<J extends PricedRequest>(
  s: StreamControl<J>,
  event: StreamEvent<J>,
  now: number,
  config: StreamConfig,
): StreamStep<J> {
  if (s.phase === "closed") return closedStep(s, event);
  switch (event.type) {
    case "open":
      return out(s, [
        {
          type: "send",
          frame: {
            type: "challenge",
            v: STREAM_PROTOCOL_VERSION,
            nonce: s.nonce as Frame<"challenge">["nonce"],
          },
        },
      ]);
    case "frame":
      return onFrame(s, event.frame, now, config);
    case "authTurn":
      if (s.phase === "ready") return out({ ...s, authPending: false }, NONE);
      return out(s, [{ type: "verifyAuth", signature: event.signature }]);
    case "authorised": {
      const next = {
        ...s,
        phase: "ready" as const,
        authPending: false,
        authorised: true,
        standing: event.standing,
      };
      return out(next, [{ type: "send", frame: readyFrame(next, config) }]);
    }
    case "authRefused":
      return refuse(s, event.error);
    case "voucherTurn":
      if (s.phase !== "ready") {
        return refuse(
          s,
          new BaseError(
            "PAYMENT_REQUIRED",
            "answer the stream's challenge (StreamAuth signed by the session's client) before sending vouchers",
          ),
        );
      }
      return out(s, [{ type: "verifyVoucher", amount: event.amount, signature: event.signature }]);
    case "voucherAccepted": {
      const v = event.voucher;
      const top = !s.top || v.amount > s.top.amount ? v : s.top;
      const next = { ...s, standing: event.standing, top };
      const head = next.waiting[0];
      return head ? withLease(next, [], head.price, config) : out(next, NONE);
    }
    case "voucherRefused":
      // A voucher the client did not sign ends the stream: nobody else may send vouchers on it.
      if (event.error.code === "PAYMENT_REQUIRED") return refuse(s, event.error);
      return out(s, [{ type: "send", frame: errorFrame(event.error) }]);
    case "infer":
      return onInfer(s, event.frame, event.duplicate, event.inFlight, config);
    case "priced": {
      const request = event.request;
      if (s.waiting.length === 0 && s.lease >= request.price) {
        const next = { ...s, lease: s.lease - request.price };
        const effects: StreamEffect<J>[] = [{ type: "run", request }];
        if (next.lease < (request.price * config.leaseRequests) / 4n)
          return withLease(next, effects, request.price, config);
        return out(next, effects);
      }
      return withLease({ ...s, waiting: [...s.waiting, request] }, [], request.price, config);
    }
    case "leased": {
      let lease = s.lease + event.granted;
      let spent = 0;
      const effects: StreamEffect<J>[] = [];
      for (const request of s.waiting) {
        if (lease < request.price) break;
        lease -= request.price;
        spent += 1;
        effects.push({ type: "run", request });
      }
      const waiting = spent === 0 ? s.waiting : s.waiting.slice(spent);
      if (waiting.length > 0 && event.granted === 0n) {
        const { authorised, charged, deposit } = event.standing;
        effects.push({
          type: "refuse",
          requests: waiting,
          error: new BaseError(
            "PAYMENT_REQUIRED",
            "the session's vouchers do not cover more requests: send a voucher for a higher amount",
            { details: { authorised, charged, deposit } },
          ),
        });
        return out({ ...s, lease, leasing: false, standing: event.standing, waiting: [] }, effects);
      }
      return out({ ...s, lease, leasing: false, standing: event.standing, waiting }, effects);
    }
    case "leaseFailed":
      return out(
        { ...s, leasing: false, waiting: [] },
        s.waiting.length > 0 ? [{ type: "refuse", requests: s.waiting, error: event.error }] : NONE,
      );
    case "released":
      return out({ ...s, lease: s.lease + event.price }, NONE);
    case "charged":
      return out({ ...s, standing: event.standing }, [
        {
          type: "send",
          frame: {
            type: "charged",
            total: event.standing.charged as Frame<"charged">["total"],
            requests: event.requests,
          },
        },
      ]);
    case "closed":
      return close(s, []);
  }
}

/**
 * After the close only credit moves: a late lease or a released request goes back to the
 * session. A voucher sent just before the client closed is still its word: it acknowledges
 * the last charges (those flushed at the close too), which settle only with it; vouchers are
 * checked one after another, so the close often arrives while one waits its turn.
 */
function closedStep<J extends PricedRequest>(s: StreamControl<J>, event: StreamEvent<J>): StreamStep<J> {
  if (event.type === "voucherTurn") {
    return s.authorised
      ? out(s, [{ type: "verifyVoucher", amount: event.amount, signature: event.signature }])
      : out(s, NONE);
  }
  if (event.type === "voucherAccepted") {
    const v = event.voucher;
    const top = !s.top || v.amount > s.top.amount ? v : s.top;
    return out({ ...s, standing: event.standing, top }, NONE);
  }
  if (event.type === "leased") {
    // Only what this call granted: the rest of the lease still covers results delivered
    // before the close and charged after it.
    const effects: StreamEffect<J>[] =
      event.granted > 0n ? [{ type: "returnLease", amount: event.granted }] : [];
    return out({ ...s, leasing: false, standing: event.standing }, effects);
  }
  if (event.type === "leaseFailed") return out({ ...s, leasing: false }, NONE);
  if (event.type === "released") return out(s, [{ type: "returnLease", amount: event.price }]);
  return out(s, NONE);
}

function onFrame<J extends PricedRequest>(
  s: StreamControl<J>,
  frame: StreamClientFrame,
  now: number,
  config: StreamConfig,
): StreamStep<J> {
  const frames = takeToken(s.frames, now, config.framesBurst, config.framesPerSecond);
  let allowed = frames.allowed;
  let vouchers = s.vouchers;
  if (allowed && (frame.type === "auth" || frame.type === "voucher")) {
    const taken = takeToken(s.vouchers, now, config.vouchersBurst, config.vouchersPerSecond);
    vouchers = taken.bucket;
    allowed = taken.allowed;
  }
  const next = { ...s, frames: frames.bucket, vouchers };
  if (!allowed) {
    return refuse(
      next,
      new BaseError("RATE_LIMITED", "this stream sends frames faster than allowed; it is closed", {
        details: { framesPerSecond: config.framesPerSecond, vouchersPerSecond: config.vouchersPerSecond },
      }),
    );
  }
  // Answers to the challenge and vouchers are checked one after another, in arrival order.
  if (frame.type === "auth")
    return out({ ...next, authPending: true }, [{ type: "queueAuth", signature: frame.signature }]);
  if (frame.type === "voucher") {
    return out(next, [{ type: "queueVoucher", amount: BigInt(frame.amount), signature: frame.signature }]);
  }
  return out(next, NONE);
}

function onInfer<J extends PricedRequest>(
  s: StreamControl<J>,
  frame: StreamInferFrame,
  duplicate: boolean,
  inFlight: number,
  config: StreamConfig,
): StreamStep<J> {
  if (s.phase !== "ready") {
    // The challenge's answer being checked may make the stream ready: requests sent right behind it wait for it.
    if (s.authPending) return out(s, [{ type: "defer", frame }]);
    return out(s, [
      {
        type: "send",
        frame: errorFrame(
          new BaseError(
            "PAYMENT_REQUIRED",
            "answer the stream's challenge (StreamAuth signed by the session's client) first",
          ),
          frame.id,
        ),
      },
    ]);
  }
  if (duplicate) {
    return out(s, [
      {
        type: "send",
        frame: errorFrame(
          new BaseError("CONFLICT", `request ${frame.id} is already in flight on this stream`),
          frame.id,
        ),
      },
    ]);
  }
  if (inFlight >= config.maxInFlight) {
    return out(s, [
      {
        type: "send",
        frame: errorFrame(
          new BaseError(
            "RATE_LIMITED",
            `at most ${config.maxInFlight} requests may be in flight on a stream`,
          ),
          frame.id,
        ),
      },
    ]);
  }
  return out(s, [{ type: "admit", frame }]);
}

/** Asks for credit for `price` times the lease size plus what waits, unless a lease call is under way. */
function withLease<J extends PricedRequest>(
  s: StreamControl<J>,
  effects: StreamEffect<J>[],
  price: bigint,
  config: StreamConfig,
): StreamStep<J> {
  if (s.leasing) return out(s, effects);
  let want = price * config.leaseRequests;
  for (const r of s.waiting) want += r.price;
  effects.push({ type: "lease", want });
  return out({ ...s, leasing: true }, effects);
}

/** Tells the client why and closes the socket (policy violation); its lease goes back now. */
function refuse<J extends PricedRequest>(s: StreamControl<J>, err: BaseError): StreamStep<J> {
  const reason =
    err.code === "PAYMENT_EXPIRED"
      ? "session expired"
      : err.code === "RATE_LIMITED"
        ? "too many frames"
        : "not the session's client";
  return close(s, [
    { type: "send", frame: errorFrame(err) },
    { type: "close", code: err.code === "RATE_LIMITED" ? 4008 : 4003, reason },
  ]);
}

/** Nothing more is read from the stream: unspent credit goes back, delivered results are charged. */
function close<J extends PricedRequest>(s: StreamControl<J>, effects: StreamEffect<J>[]): StreamStep<J> {
  if (s.lease > 0n) effects.push({ type: "returnLease", amount: s.lease });
  effects.push({ type: "windDown" });
  return out({ ...s, phase: "closed", authPending: false, lease: 0n, waiting: [] }, effects);
}

function readyFrame(s: StreamControl<PricedRequest>, config: StreamConfig): StreamServerFrame {
  return {
    type: "ready",
    v: STREAM_PROTOCOL_VERSION,
    sessionId: s.sessionId as Frame<"ready">["sessionId"],
    subnet: s.subnet as Frame<"ready">["subnet"],
    authorised: s.standing.authorised as Frame<"ready">["authorised"],
    charged: s.standing.charged as Frame<"ready">["charged"],
    maxInFlight: config.maxInFlight,
  };
}

/** The error frame of `err`, for request `id` or for the stream itself. */
export function errorFrame(err: BaseError, id?: string): StreamServerFrame {
  return {
    type: "error",
    ...(id === undefined ? {} : { id }),
    code: err.code,
    message: err.shortMessage,
    ...(err.details === undefined ? {} : { details: err.details }),
  };
}

function out<J extends PricedRequest>(
  state: StreamControl<J>,
  effects: readonly StreamEffect<J>[],
): StreamStep<J> {
  return { state, effects };
}

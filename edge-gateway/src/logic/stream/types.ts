import type { BaseError, StreamClientFrame, StreamInferFrame, StreamServerFrame } from "@ncn/protocol";
import type { Bucket } from "../rate-limit.ts";

/** The session's balance as the Session object reports it to a stream. */
export interface StreamStanding {
  authorised: string;
  charged: string;
  deposit: string;
}

/** A voucher the client showed on this stream. */
export interface StreamVoucher {
  amount: bigint;
  signature: `0x${string}`;
}

/** What the stream rules need of a request: its price. The shell keeps the rest. */
export interface PricedRequest {
  id: string;
  price: bigint;
}

/**
 * One session stream's control state: the challenge, the frame limits, the credit leased
 * from the Session object and the requests waiting for credit. The requests themselves,
 * their agents and their validation stay with the shell.
 */
export interface StreamControl<J extends PricedRequest = PricedRequest> {
  sessionId: `0x${string}`;
  subnet: string;
  /** The challenge sent on open; the client's signature over it makes the stream ready. */
  nonce: `0x${string}`;
  /** `challenged` until the client answers the challenge; `closed` for good. */
  phase: "challenged" | "ready" | "closed";
  /** An answer to the challenge is being checked: requests right behind it wait for it. */
  authPending: boolean;
  /** The client answered the challenge (stays true after the close: its last vouchers still count). */
  authorised: boolean;
  /** Token buckets of the frame limits. */
  frames: Bucket | undefined;
  vouchers: Bucket | undefined;
  standing: StreamStanding;
  /** The highest voucher this stream has shown: what validators are asked to check. */
  top: StreamVoucher | undefined;
  /** Credit leased from the Session object and not yet spent on a request. */
  lease: bigint;
  /** A lease call is under way (one at a time). */
  leasing: boolean;
  /** Requests waiting for credit, in arrival order. */
  waiting: readonly J[];
}

/** Limits of a stream (see `STREAM_LIMITS`). */
export interface StreamConfig {
  /** Requests in flight on one stream at most. */
  maxInFlight: number;
  /** Credit is leased for this many requests at a time, and refilled below a quarter of it. */
  leaseRequests: bigint;
  framesBurst: number;
  framesPerSecond: number;
  /** Vouchers and challenge answers: each costs a signature recovery and a Session call. */
  vouchersBurst: number;
  vouchersPerSecond: number;
}

/** Client frames, the answers of the Session object, and the shell's own news. */
export type StreamEvent<J extends PricedRequest = PricedRequest> =
  /** The socket is open: send the challenge. */
  | { type: "open" }
  /** A well-formed client frame arrived (a `many` frame counts once against the limits). */
  | { type: "frame"; frame: StreamClientFrame }
  /** The turn of an answer to the challenge, after the auth and voucher frames before it. */
  | { type: "authTurn"; signature: `0x${string}` }
  | { type: "authorised"; standing: StreamStanding }
  | { type: "authRefused"; error: BaseError }
  /** The turn of a voucher, after the auth and voucher frames before it. */
  | { type: "voucherTurn"; amount: bigint; signature: `0x${string}` }
  | { type: "voucherAccepted"; voucher: StreamVoucher; standing: StreamStanding }
  | { type: "voucherRefused"; error: BaseError }
  /** A request frame: `duplicate` when its id is in flight, `inFlight` the stream's count. */
  | { type: "infer"; frame: StreamInferFrame; duplicate: boolean; inFlight: number }
  /** The request is priced: spend credit on it, or make it wait for credit. */
  | { type: "priced"; request: J }
  | { type: "leased"; granted: bigint; standing: StreamStanding }
  | { type: "leaseFailed"; error: BaseError }
  /** A request that will not be charged gives its price back. */
  | { type: "released"; price: bigint }
  /** Delivered results were charged. */
  | { type: "charged"; standing: StreamStanding; requests: number }
  /** The socket closed (or failed). */
  | { type: "closed" };

/** What the shell does after a step, in order. */
export type StreamEffect<J extends PricedRequest = PricedRequest> =
  | { type: "send"; frame: StreamServerFrame }
  /** Close the socket with a policy code (4003 not the session's client or expired, 4008 too many frames). */
  | { type: "close"; code: 4003 | 4008; reason: string }
  /** Check the challenge's answer when its turn comes (after the auth and voucher frames before it). */
  | { type: "queueAuth"; signature: `0x${string}` }
  | { type: "queueVoucher"; amount: bigint; signature: `0x${string}` }
  /** Ask the Session object: is this the session client's answer to the challenge? */
  | { type: "verifyAuth"; signature: `0x${string}` }
  | { type: "verifyVoucher"; amount: bigint; signature: `0x${string}` }
  /** The request waits until the answer to the challenge before it is checked. */
  | { type: "defer"; frame: StreamInferFrame }
  /** The request may go on: the shell prices it and steps `priced`. */
  | { type: "admit"; frame: StreamInferFrame }
  /** Send the request to an agent: its price is spent from the lease. */
  | { type: "run"; request: J }
  | { type: "lease"; want: bigint }
  | { type: "returnLease"; amount: bigint }
  /** These requests end with `error`; they never took credit. */
  | { type: "refuse"; requests: readonly J[]; error: BaseError }
  /** Charge the results already delivered, and give back what the stream's running requests hold. */
  | { type: "windDown" };

export interface StreamStep<J extends PricedRequest = PricedRequest> {
  state: StreamControl<J>;
  effects: readonly StreamEffect<J>[];
}

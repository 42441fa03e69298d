import {
  BaseError,
  BatchCompletionResponse,
  errorFromBody,
  isPaymentErrorCode,
  type StreamBatchRequest,
  VALIDATE_SOCKET_PATH,
  VALIDATION_SOCKET_CLOSE,
  VALIDATION_SOCKET_MAX_MESSAGE_BYTES,
} from "@ncn/protocol";
import * as v from "valibot";
import { firstAsked } from "../logic/validator-quorum.ts";
import { validatorAuthorization } from "./auth.ts";
import { mostCommonRefusal, whoRefused } from "./client.ts";
import { failingLast, unreachable, validatorAnswered, validatorFailed } from "./health.ts";

export interface StreamAnswer {
  url: string;
  response: BatchCompletionResponse;
}

export interface StreamRefusal {
  url: string;
  code: string;
  message: string;
}

/** The validators (URLs) among `answers` that accepted item `i` of the validated batch. */
export function attestersOf(answers: readonly StreamAnswer[], i: number): string[] {
  const out: string[] = [];
  for (const a of answers) if (acceptedSet(a).has(i)) out.push(a.url);
  return out;
}

const accepted = new WeakMap<StreamAnswer, Set<number>>();

/** An answer's accepted indexes as a set, made once per answer (a batch has hundreds of items). */
function acceptedSet(a: StreamAnswer): Set<number> {
  let set = accepted.get(a);
  if (!set) {
    set = new Set(a.response.accepted);
    accepted.set(a, set);
  }
  return set;
}

/**
 * Validates a stream batch on the request's path with `threshold` validators: those are
 * asked first (the same ones for all of a session's batches: see `firstAsked`), another at once in place of one that refused or failed, and
 * the call resolves once `threshold` distinct validators attested. The validators not asked
 * are returned (`unasked`): the caller asks them afterwards, grouped (see the stream hub's
 * late asks), so that they still see every receipt (settlement asks validators to sign for
 * receipts they attested themselves, and a receipt seen by only some of them could leave a
 * batch no quorum settles). Asking them after, not alongside, keeps their CPU off the
 * critical path on a small machine; grouping pays their per-call costs once for many batches.
 */
export async function gatherStreamValidation(
  urls: readonly string[],
  threshold: number,
  body: v.InferInput<typeof StreamBatchRequest>,
  timeoutMs: number,
  sockets?: ValidatorSockets,
  fetcher: typeof fetch = fetch,
): Promise<{
  answers: StreamAnswer[];
  refusals: StreamRefusal[];
  /** Answers of validators asked before the quorum that came after it: they attested too. */
  rest: Promise<StreamAnswer[]>;
  /** Validators not asked (the caller asks them later). */
  unasked: string[];
}> {
  if (urls.length < threshold) {
    throw new BaseError(
      "VALIDATOR_UNAVAILABLE",
      `only ${urls.length} validators configured, ${threshold} needed`,
    );
  }
  const payload = JSON.stringify(body);
  // Validators refuse a larger socket message outright; such a batch goes over HTTP.
  const fitsSocket = fitsValidatorSocket(payload);
  const start = firstAsked(body.session.sessionId, urls.length);
  const order = failingLast(urls.map((_, i) => urls[(start + i) % urls.length] as string));
  const answers: StreamAnswer[] = [];
  const refusals: StreamRefusal[] = [];
  const seen = new Set<string>();
  let next = 0;
  let pending = 0;
  const asks: Promise<unknown>[] = [];
  const keep = (r: StreamAnswer) => {
    const validator = r.response.attestation.validator.toLowerCase();
    if (!seen.has(validator)) {
      seen.add(validator);
      answers.push(r);
    }
  };
  const ask = (url: string) => askValidator(url, payload, fitsSocket, timeoutMs, sockets, fetcher);
  return await new Promise((resolve) => {
    let resolved = false;
    const finish = () => {
      if (resolved) return;
      if (answers.length >= threshold || (pending === 0 && next >= order.length)) {
        resolved = true;
        const counted = answers.length;
        const rest = Promise.allSettled(asks).then(() => answers.slice(counted));
        resolve({ answers: [...answers], refusals, rest, unasked: order.slice(next) });
      }
    };
    const launch = () => {
      const url = order[next++] as string;
      pending++;
      const asked = ask(url)
        .then((r) => {
          if ("response" in r) {
            keep(r);
          } else {
            refusals.push(r);
            // One of the first asked failed: ask the next one now, in its place.
            if (!resolved && next < order.length) launch();
          }
        })
        .finally(() => {
          pending--;
          finish();
        });
      asks.push(asked);
    };
    for (let i = 0; i < threshold; i++) launch();
  });
}

/**
 * One validator's answer to a stream batch (`payload`: the request's JSON), over its socket
 * when it has a usable one and the batch fits, else over HTTP. Never throws: a refusal or
 * failure comes back as a `StreamRefusal`, and the validator's health is noted either way.
 */
export async function askValidator(
  url: string,
  payload: string,
  fitsSocket: boolean,
  timeoutMs: number,
  sockets?: ValidatorSockets,
  fetcher: typeof fetch = fetch,
): Promise<StreamAnswer | StreamRefusal> {
  const socket = sockets?.of(url);
  const started = Date.now();
  if (socket?.usable && fitsSocket) {
    try {
      const raw = v.parse(SocketAnswer, await socket.request(payload, timeoutMs));
      if (!raw.ok) {
        const err = errorFromBody({ error: raw.error }, 400);
        return { url, code: err.code, message: err.shortMessage };
      }
      const parsed = v.safeParse(BatchCompletionResponse, raw.body);
      if (!parsed.success) {
        return { url, code: "VALIDATOR_UNAVAILABLE", message: "malformed validation response" };
      }
      validatorAnswered(url);
      return { url, response: parsed.output };
    } catch (e) {
      // A validator that took the batch and never answered is not asked again over HTTP (that
      // would cost the batch a second timeout); a socket that failed otherwise: the batch goes
      // over HTTP in the time left (and the next one reconnects).
      if (e instanceof ValidatorTimeout) {
        validatorFailed(url);
        return { url, code: "VALIDATOR_UNAVAILABLE", message: "validator timeout" };
      }
    }
  }
  try {
    const res = await fetcher(`${url.replace(/\/$/, "")}/v1/validate/stream`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: await validatorAuthorization() },
      body: payload,
      signal: AbortSignal.timeout(Math.max(1, timeoutMs - (Date.now() - started))),
    });
    const json: unknown = await res.json().catch(() => undefined);
    if (!res.ok) {
      const err = errorFromBody(json, res.status);
      return { url, code: err.code, message: err.shortMessage };
    }
    const parsed = v.safeParse(BatchCompletionResponse, json);
    if (!parsed.success) {
      return { url, code: "VALIDATOR_UNAVAILABLE", message: "malformed validation response" };
    }
    validatorAnswered(url);
    return { url, response: parsed.output };
  } catch (e) {
    validatorFailed(url);
    return { url, code: "VALIDATOR_UNAVAILABLE", message: `validator ${unreachable(e)}` };
  }
}

/** Whether a stream batch's JSON fits one socket message (validators refuse larger ones outright). */
export function fitsValidatorSocket(payload: string): boolean {
  return socketMessageBytes(payload) <= VALIDATION_SOCKET_MAX_MESSAGE_BYTES;
}

/** The error a batch fails with when no quorum was reached: the most common refusal. */
export function streamQuorumError(
  threshold: number,
  got: number,
  refusals: readonly StreamRefusal[],
): BaseError {
  const { code: top, message: reason } = mostCommonRefusal(refusals);
  const code = isPaymentErrorCode(top) || top === "VALIDATION_REFUSED" ? top : "VALIDATOR_UNAVAILABLE";
  return new BaseError(
    code,
    `validation: ${got} of ${threshold} validators attested (${top}: ${reason}; ${whoRefused(refusals)}); nothing was charged`,
    {
      details: {
        refusals,
        charged: false,
        retryable: refusals.every((r) => r.code === "VALIDATOR_UNAVAILABLE"),
      },
    },
  );
}

const SocketAnswer = v.object({
  id: v.number(),
  ok: v.boolean(),
  body: v.optional(v.unknown()),
  error: v.optional(v.unknown()),
});

/**
 * Persistent validation sockets (`/v1/validate/ws`), one per validator, owned by one
 * Durable Object (I/O objects may not cross objects). An HTTP exchange from the Worker
 * runtime costs about half a millisecond of CPU; a message on an open socket, a small
 * fraction of that. A validator without the socket, or a socket that fails, falls back to
 * HTTP; a failed connection is retried after a pause.
 */
export class ValidatorSockets {
  readonly #byUrl = new Map<string, ValidatorSocket>();

  of(url: string): ValidatorSocket {
    let s = this.#byUrl.get(url);
    if (!s) {
      s = new ValidatorSocket(url);
      this.#byUrl.set(url, s);
    }
    return s;
  }
}

const RECONNECT_PAUSE_MS = 5_000;
/** How often a socket with calls waiting looks for those past their deadline. */
const SWEEP_EVERY_MS = 1_000;
/** The envelope `request` wraps a payload in, at its longest (`{"id":<15 digits>,"op":"stream","body":}`). */
const SOCKET_ENVELOPE_BYTES = 64;

/** Bytes of the socket message that carries `payload` (UTF-8), counted only when it could matter. */
function socketMessageBytes(payload: string): number {
  const upper = payload.length * 3 + SOCKET_ENVELOPE_BYTES;
  if (upper <= VALIDATION_SOCKET_MAX_MESSAGE_BYTES) return upper;
  return new TextEncoder().encode(payload).byteLength + SOCKET_ENVELOPE_BYTES;
}

/** A validation call on a socket got no answer within its time. */
class ValidatorTimeout extends Error {
  constructor() {
    super("the validator did not answer in time");
    this.name = "ValidatorTimeout";
  }
}

class ValidatorSocket {
  readonly #url: string;
  #ws: WebSocket | undefined;
  #connecting: Promise<WebSocket> | undefined;
  #failedAt = 0;
  #seq = 0;
  readonly #pending = new Map<
    number,
    { resolve: (x: unknown) => void; reject: (e: Error) => void; deadline: number }
  >();
  /**
   * One timer per socket looks for calls past their deadline (to within a second), not one
   * timer per call: timers are a noticeable share of a Worker's CPU per validated batch.
   */
  #sweep: ReturnType<typeof setTimeout> | undefined;

  constructor(url: string) {
    this.#url = url;
  }

  /** False for a while after a failed connection (HTTP is used meanwhile). */
  get usable(): boolean {
    return Date.now() - this.#failedAt > RECONNECT_PAUSE_MS;
  }

  async request(payload: string, timeoutMs: number): Promise<unknown> {
    const ws = this.#ws ?? (await this.#connect());
    const id = this.#seq++;
    return await new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, deadline: Date.now() + timeoutMs });
      this.#armSweep(timeoutMs);
      try {
        ws.send(`{"id":${id},"op":"stream","body":${payload}}`);
      } catch (e) {
        this.#pending.delete(id);
        this.#drop(ws);
        reject(e instanceof Error ? e : new Error(String(e)));
      }
    });
  }

  #armSweep(timeoutMs: number): void {
    if (this.#sweep) return;
    this.#sweep = setTimeout(
      () => {
        this.#sweep = undefined;
        const now = Date.now();
        let shortest = Number.POSITIVE_INFINITY;
        for (const [id, p] of this.#pending) {
          if (p.deadline <= now) {
            this.#pending.delete(id);
            p.reject(new ValidatorTimeout());
          } else shortest = Math.min(shortest, p.deadline - now);
        }
        if (this.#pending.size > 0) this.#armSweep(shortest);
      },
      Math.min(timeoutMs, SWEEP_EVERY_MS),
    );
  }

  #connect(): Promise<WebSocket> {
    this.#connecting ??= (async () => {
      try {
        const url = new URL(VALIDATE_SOCKET_PATH, this.#url);
        const res = await fetch(url.toString(), {
          headers: { upgrade: "websocket", authorization: await validatorAuthorization() },
        });
        const ws = res.webSocket;
        if (!ws) throw new Error(`the validator refused the socket (${res.status})`);
        ws.accept();
        ws.addEventListener("message", (e) => this.#onMessage(e.data));
        // A socket whose token expired reopens at once with the renewed token; any other
        // close pauses the socket (HTTP meanwhile).
        ws.addEventListener("close", (e) => this.#drop(ws, e.code !== VALIDATION_SOCKET_CLOSE.TOKEN_EXPIRED));
        ws.addEventListener("error", () => this.#drop(ws));
        this.#ws = ws;
        return ws;
      } catch (e) {
        this.#failedAt = Date.now();
        throw e;
      } finally {
        this.#connecting = undefined;
      }
    })();
    return this.#connecting;
  }

  #onMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let id: unknown;
    let msg: unknown;
    try {
      msg = JSON.parse(data);
      id = (msg as { id?: unknown }).id;
    } catch {
      return;
    }
    const p = typeof id === "number" ? this.#pending.get(id) : undefined;
    if (!p) return;
    this.#pending.delete(id as number);
    p.resolve(msg);
  }

  #drop(ws: WebSocket, failed = true): void {
    if (this.#ws !== ws) return;
    this.#ws = undefined;
    if (failed) this.#failedAt = Date.now();
    for (const p of this.#pending.values()) p.reject(new Error("the validation socket closed"));
    this.#pending.clear();
  }
}

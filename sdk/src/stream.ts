import {
  AttestationPhase,
  BaseError,
  digestOf,
  type ErrorCode,
  hashTaskResult,
  type NcnDomain,
  receiptDigest,
  type StreamResultFrame,
  StreamServerFrame,
  type Tensor,
  tensorMapFromJson,
  tensorToJson,
  typedData,
  verifyMerkleProof,
} from "@ncn/protocol";
import * as v from "valibot";
import { type LocalAccount, recoverAddress, recoverTypedDataAddress } from "viem";
import type { ValidatorSet } from "./verify.ts";

/** The WebSocket constructor to use: the global one (browsers, Bun, Node 22+) or e.g. `ws` on Node 20. */
export type WebSocketLike = new (url: string) => WebSocket;

export interface StreamOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787`. */
  gatewayUrl: string;
  sessionId: `0x${string}`;
  subnet: string;
  /** The session's client: signs the vouchers. */
  account: LocalAccount;
  /** EIP-712 domain (chain id and payment contract) the vouchers are signed for. */
  domain: NcnDomain;
  /**
   * How far ahead of what is charged the client authorises spending, in token base units
   * (default 10^18). Validators attest only real, checked results, so this bounds what a
   * burst of requests may reserve, not what can be collected.
   */
  window?: bigint;
  /** Longest wait before the charged total is acknowledged with a voucher (default 250 ms). */
  billEveryMs?: number;
  WebSocket?: WebSocketLike;
  /** Give up opening after this long (default 10 s). */
  openTimeoutMs?: number;
  /**
   * What this client has already received on the session (sum of prices), if it knows:
   * the stream then never acknowledges more than that plus what it receives, whatever
   * charged total the gateway reports when the stream opens. Without it the gateway's
   * figure at open is taken as the starting point.
   */
  receivedBefore?: bigint;
  /** Called with the price of each result this stream receives. */
  onReceived?: (price: bigint) => void;
}

export interface StreamInferOptions {
  timeoutMs?: number;
}

export interface StreamResult {
  requestId: string;
  price: bigint;
  outputs: Record<string, Tensor>;
  /** The frame as received: verify it offline with `verifyStreamResult`. */
  frame: StreamResultFrame;
}

type ResolvedOptions = StreamOptions & { window: bigint; billEveryMs: number };

interface Waiter {
  resolve: (r: StreamResult) => void;
  reject: (e: BaseError) => void;
}

/**
 * A session stream: many requests in flight on one WebSocket, paid from a prepaid session.
 * It authorises a window of spending ahead of what is charged, acknowledges each charged
 * total with a voucher of exactly that amount (what the gateway settles with), and keeps
 * the window topped up, so the caller only calls `infer`.
 *
 * @example
 * const stream = await NcnStream.open({ gatewayUrl, sessionId, subnet: "default", account, domain });
 * const { outputs } = await stream.infer("tiny-mlp", { x: { dtype: "float32", dims: [1, 4], data } });
 * await stream.close();
 */
export class NcnStream {
  readonly #ws: WebSocket;
  readonly #opts: ResolvedOptions;
  readonly #waiters = new Map<string, Waiter>();
  readonly #outgoing: object[] = [];
  /** Results received, and results the gateway has reported charged. */
  #delivered = 0;
  #chargedResults = 0;
  #seq = 0;
  #authorised = 0n;
  #charged = 0n;
  /**
   * The charged total when the stream opened plus the prices of results this client received:
   * the most it ever acknowledges, whatever the gateway reports as charged.
   */
  #receivedTotal = 0n;
  #billed = 0n;
  #billTimer: ReturnType<typeof setTimeout> | undefined;
  #signing: Promise<void> = Promise.resolve();
  #closed: BaseError | undefined;
  #socketClosed: (how: { code: number; reason: string }) => void = () => undefined;
  /** Resolves with the socket's close code and reason once it is closed (1000 after `close()`). */
  readonly socketClosed: Promise<{ code: number; reason: string }> = new Promise((resolve) => {
    this.#socketClosed = resolve;
  });
  #onReady: ((e?: BaseError) => void) | undefined;

  private constructor(ws: WebSocket, opts: ResolvedOptions) {
    this.#ws = ws;
    this.#opts = opts;
  }

  /**
   * Connects, answers the gateway's challenge with a `StreamAuth` signature (proving the
   * session's client), authorises a first window and waits until the gateway is ready.
   */
  static async open(options: StreamOptions): Promise<NcnStream> {
    const opts = { window: 10n ** 18n, billEveryMs: 250, ...options };
    if (opts.window <= 0n) throw new BaseError("INVALID_INPUT", "window must be positive");
    const Ws = opts.WebSocket ?? (globalThis.WebSocket as WebSocketLike | undefined);
    if (!Ws) throw new BaseError("INVALID_INPUT", "no WebSocket available: pass one (e.g. the `ws` package)");
    const url = new URL(`/v1/sessions/${opts.sessionId}/stream`, opts.gatewayUrl);
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
    url.searchParams.set("subnet", opts.subnet);
    const ws = new Ws(url.toString());
    const stream = new NcnStream(ws, opts);
    await stream.#start(opts.openTimeoutMs ?? 10_000);
    return stream;
  }

  /** Highest amount authorised, and the session's charged total, as last reported. */
  get authorised(): bigint {
    return this.#authorised;
  }

  get charged(): bigint {
    return this.#charged;
  }

  get inFlight(): number {
    return this.#waiters.size;
  }

  /** Runs a tensor model; resolves with the validated result, rejects with a typed `NcnError`. */
  infer(
    model: string,
    inputs: Record<string, Tensor>,
    options: StreamInferOptions = {},
  ): Promise<StreamResult> {
    if (this.#closed) return Promise.reject(this.#closed);
    const id = `r${(this.#seq++).toString(36)}`;
    const frame = {
      type: "infer",
      id,
      model,
      inputs: Object.fromEntries(Object.entries(inputs).map(([k, t]) => [k, tensorToJson(t)])),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    };
    return new Promise<StreamResult>((resolve, reject) => {
      this.#waiters.set(id, { resolve, reject });
      this.#queueSend(frame);
    });
  }

  /**
   * Requests made in the same turn go out in one message (`many`): under load whole
   * batches of requests travel, are dispatched and signed together.
   */
  #queueSend(frame: object): void {
    this.#outgoing.push(frame);
    if (this.#outgoing.length > 1) return;
    queueMicrotask(() => {
      const frames = this.#outgoing.splice(0);
      if (this.#ws.readyState !== 1) return;
      this.#ws.send(JSON.stringify(frames.length === 1 ? frames[0] : { type: "many", frames }));
    });
  }

  /** Waits for requests in flight, acknowledges the last charged total, then closes. */
  async close(): Promise<void> {
    const deadline = Date.now() + 30_000;
    while (this.#waiters.size > 0 && !this.#closed && Date.now() < deadline) await sleep(10);
    // Every delivered result is charged shortly after (in groups): wait for those charges,
    // then acknowledge the final total, which is what lets them settle.
    const settleBy = Date.now() + 5_000;
    while (!this.#closed && this.#chargedResults < this.#delivered && Date.now() < settleBy) await sleep(5);
    if (!this.#closed && this.#billed < this.#charged) this.#bill(true);
    await this.#signing;
    this.#closed ??= new BaseError("UNAVAILABLE", "the stream is closed");
    if (this.#ws.readyState === 1) this.#ws.close(1000, "done");
  }

  async #start(timeoutMs: number): Promise<void> {
    const ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new BaseError("UNAVAILABLE", "the gateway did not accept the stream in time")),
        timeoutMs,
      );
      this.#onReady = (e) => {
        clearTimeout(timer);
        this.#onReady = undefined;
        if (e) reject(e);
        else resolve();
      };
    });
    // When the socket cannot even open, `ready` fails too but is never awaited: without this
    // the rejection would be unhandled (which ends a Node process).
    ready.catch(() => undefined);
    this.#ws.addEventListener("message", (e) => this.#onMessage(e.data));
    this.#ws.addEventListener("close", (e) => {
      this.#socketClosed({ code: e.code, reason: e.reason });
      const err = new BaseError(
        "UNAVAILABLE",
        `the stream closed (${e.code}${e.reason ? `: ${e.reason}` : ""})`,
      );
      this.#shutdown(err);
    });
    this.#ws.addEventListener("error", () =>
      this.#shutdown(new BaseError("UNAVAILABLE", "the stream failed")),
    );
    await new Promise<void>((resolve, reject) => {
      if (this.#ws.readyState === 1) return resolve();
      this.#ws.addEventListener("open", () => resolve(), { once: true });
      this.#ws.addEventListener(
        "error",
        () => reject(new BaseError("UNAVAILABLE", "cannot connect to the gateway's stream")),
        { once: true },
      );
    });
    await ready;
  }

  /** Signs the challenge, then the first window voucher, in that order on the socket. */
  #answerChallenge(nonce: `0x${string}`): void {
    const { account, domain, sessionId } = this.#opts;
    this.#signing = this.#signing.then(async () => {
      const signature = await account.signTypedData(typedData(domain, "StreamAuth", { sessionId, nonce }));
      if (this.#ws.readyState === 1) this.#ws.send(JSON.stringify({ type: "auth", signature }));
    });
    this.#authorised = this.#opts.window;
    this.#sendVoucher(this.#opts.window);
  }

  #onMessage(data: unknown): void {
    if (typeof data !== "string") return;
    let frame: StreamServerFrame;
    try {
      frame = v.parse(StreamServerFrame, JSON.parse(data));
    } catch {
      return;
    }
    switch (frame.type) {
      case "challenge":
        this.#answerChallenge(frame.nonce);
        return;
      case "ready":
        if (BigInt(frame.authorised) > this.#authorised) this.#authorised = BigInt(frame.authorised);
        {
          // The gateway's charged total is its word: never acknowledged beyond what this
          // client received (a gateway may charge results it never delivered, say when it
          // died while sending them).
          const reported = BigInt(frame.charged);
          const known = this.#opts.receivedBefore;
          this.#charged = known !== undefined && known < reported ? known : reported;
          this.#receivedTotal = known ?? reported;
          this.#billed = this.#charged;
        }
        this.#topUp();
        this.#onReady?.();
        return;
      case "result": {
        const w = this.#waiters.get(frame.id);
        this.#delivered += 1;
        if (!w) return;
        this.#receivedTotal += BigInt(frame.price);
        this.#opts.onReceived?.(BigInt(frame.price));
        this.#waiters.delete(frame.id);
        w.resolve({
          requestId: frame.requestId,
          price: BigInt(frame.price),
          outputs: tensorMapFromJson(frame.result.outputs),
          frame,
        });
        return;
      }
      case "results": {
        this.#delivered += frame.results.length;
        for (const r of frame.results) {
          const w = this.#waiters.get(r.id);
          if (!w) continue;
          this.#receivedTotal += BigInt(r.price);
          this.#opts.onReceived?.(BigInt(r.price));
          this.#waiters.delete(r.id);
          const { proof, ...rest } = r;
          w.resolve({
            requestId: r.requestId,
            price: BigInt(r.price),
            outputs: tensorMapFromJson(r.result.outputs),
            frame: {
              type: "result",
              ...rest,
              validation: { receiptsRoot: frame.receiptsRoot, proof, attestations: frame.attestations },
            },
          });
        }
        return;
      }
      case "charged": {
        // Never acknowledge more than the prices of results actually received.
        const reported = BigInt(frame.total);
        const total = reported < this.#receivedTotal ? reported : this.#receivedTotal;
        if (total > this.#charged) this.#charged = total;
        this.#chargedResults += frame.requests;
        this.#bill(false);
        this.#topUp();
        return;
      }
      case "error": {
        const err = new BaseError(frame.code as ErrorCode, frame.message, { details: frame.details });
        if (frame.id !== undefined) {
          const w = this.#waiters.get(frame.id);
          if (w) {
            this.#waiters.delete(frame.id);
            w.reject(err);
          }
          return;
        }
        if (this.#onReady) this.#onReady(err);
        return;
      }
    }
  }

  /** Acknowledges the charged total with a voucher of exactly that amount (throttled). */
  #bill(now: boolean): void {
    if (this.#charged <= this.#billed) return;
    if (now) {
      if (this.#billTimer) clearTimeout(this.#billTimer);
      this.#billTimer = undefined;
      this.#billed = this.#charged;
      this.#sendVoucher(this.#billed);
      return;
    }
    this.#billTimer ??= setTimeout(() => {
      this.#billTimer = undefined;
      this.#bill(true);
    }, this.#opts.billEveryMs);
  }

  /** Keeps at least half a window authorised beyond what is charged. */
  #topUp(): void {
    if (this.#authorised - this.#charged < this.#opts.window / 2n) {
      this.#authorised = this.#charged + this.#opts.window;
      this.#sendVoucher(this.#authorised);
    }
  }

  #sendVoucher(amount: bigint): void {
    const { account, domain, sessionId } = this.#opts;
    this.#signing = this.#signing.then(async () => {
      const signature = await account.signTypedData(
        typedData(domain, "Voucher", { sessionId, cumulativeAmount: amount }),
      );
      if (this.#ws.readyState === 1) {
        this.#ws.send(JSON.stringify({ type: "voucher", amount: amount.toString(), signature }));
      }
    });
  }

  #shutdown(err: BaseError): void {
    this.#closed ??= err;
    if (this.#billTimer) clearTimeout(this.#billTimer);
    this.#onReady?.(err);
    for (const w of this.#waiters.values()) w.reject(err);
    this.#waiters.clear();
  }
}

export interface StreamResultVerification {
  ok: boolean;
  agent: string;
  agentSignatureValid: boolean;
  outputHashMatches: boolean;
  /** Distinct active validators whose attestation over the batch root verified. */
  attestors: string[];
  threshold: number;
  problems: string[];
}

/**
 * Verifies a stream result offline: the result hashes to the receipt's output hash, the
 * receipt is under the agent's signed batch root, and it is under a batch root that at
 * least M distinct active validators attested.
 */
export async function verifyStreamResult(
  frame: StreamResultFrame,
  set: ValidatorSet,
  domain: NcnDomain,
): Promise<StreamResultVerification> {
  const problems: string[] = [];
  const r = frame.receipt;
  const leaf = receiptDigest(domain, r);
  const outputHashMatches = hashTaskResult(frame.result) === r.outputHash;
  if (!outputHashMatches) problems.push("the result does not hash to the receipt's output hash");
  const { batch, proof } = frame.agentBatch;
  let agentSignatureValid = false;
  if (batch.agent.toLowerCase() !== r.agent.toLowerCase())
    problems.push("the agent batch is another agent's");
  else if (!verifyMerkleProof(batch.receiptsRoot, leaf, proof))
    problems.push("the receipt is not under the agent's batch root");
  else {
    try {
      const signer = await recoverTypedDataAddress({
        ...typedData(domain, "ReceiptBatch", {
          agent: batch.agent,
          receiptsRoot: batch.receiptsRoot,
          count: batch.count,
        }),
        signature: batch.signature,
      });
      agentSignatureValid = signer.toLowerCase() === r.agent.toLowerCase();
    } catch {}
    if (!agentSignatureValid) problems.push("the agent's batch signature does not verify");
  }
  const root = frame.validation.receiptsRoot;
  if (!verifyMerkleProof(root, leaf, frame.validation.proof))
    problems.push("the receipt is not under the validated batch root");
  const digest = digestOf(domain, "Attestation", {
    requestId: root,
    phase: AttestationPhase.Completion,
    subject: root,
    outputHash: `0x${"0".repeat(64)}`,
  });
  const active = new Set(set.validators.map((a) => a.toLowerCase()));
  const attestors = new Set<string>();
  for (const a of frame.validation.attestations) {
    try {
      const signer = (await recoverAddress({ hash: digest, signature: a.signature })).toLowerCase();
      if (active.has(signer)) attestors.add(signer);
    } catch {}
  }
  if (attestors.size < set.threshold) {
    problems.push(`${attestors.size} of ${set.threshold} validator attestations verify`);
  }
  return {
    ok: problems.length === 0,
    agent: r.agent,
    agentSignatureValid,
    outputHashMatches,
    attestors: [...attestors],
    threshold: set.threshold,
    problems,
  };
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

import {
  BaseError,
  bytesToBase64,
  ErrorBody,
  errorFromBody,
  type GeneratePrompt,
  InferenceResponse,
  ModelId,
  type NcnDomain,
  ncnDomain,
  networkErrorOf,
  type ProgressEvent,
  REQUEST_ACCESS_HEADER,
  readRequestEvents,
  requestAccessData,
  requestMaximum,
  SamplingParams,
  type StreamResultFrame,
  type TaskInput,
  type Tensor,
  TokenPrices,
  tensorMapFromJson,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import type { LocalAccount } from "viem";
import { type GenerateStream, TokenQueue } from "./generate-stream.ts";
import {
  NcnStream,
  type StreamResultVerification,
  verifyStreamResult,
  type WebSocketLike,
} from "./stream.ts";
import { type ReceiptVerification, type ValidatorSet, verifyReceipt } from "./verify.ts";

/** What `/v1/quote` and a 402 answer carry. */
export const Quote = v.object({
  subnet: v.string(),
  model: v.string(),
  /** Per request: the whole price, or with `pricing` the base fee. */
  price: v.string(),
  /** Per-token prices, for a model priced per token (see `requestMaximum`, `requestCharge`). */
  pricing: v.optional(TokenPrices),
  currency: v.string(),
  chainId: v.number(),
  token: v.string(),
  paymentContract: v.string(),
  gateway: v.string(),
  modes: v.unknown(),
});
export type Quote = v.InferOutput<typeof Quote>;

/** What `/v1/gateway` answers: the gateway's chain identity. */
export const GatewayInfo = v.object({
  chainId: v.number(),
  paymentContract: v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{40}$/)),
  token: v.string(),
  gateway: v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{40}$/)),
});
export type GatewayInfo = v.InferOutput<typeof GatewayInfo>;

export const SessionInfo = v.object({
  sessionId: v.string(),
  client: v.string(),
  deposit: v.string(),
  settled: v.string(),
  charged: v.string(),
  /** Charges the gateway gave up collecting: never charged to the client. */
  released: v.optional(v.string()),
  /** Of `released`, results this client never acknowledged (it did not receive them). */
  unacknowledged: v.optional(v.string()),
  expiry: v.number(),
});
export type SessionInfo = v.InferOutput<typeof SessionInfo>;

export interface NcnClientOptions {
  /** The gateway's base URL, e.g. `http://127.0.0.1:8787`. */
  gatewayUrl: string;
  /** Signs vouchers (session mode). */
  account?: LocalAccount;
  /** A session this client pays from (see `useSession`). */
  sessionId?: `0x${string}`;
  /** Reads the validator set for `verifyReceipt`; see `chainValidatorSet` in `./chain.ts`. */
  validatorSet?: () => Promise<ValidatorSet>;
  fetch?: typeof fetch;
}

export interface RequestOptions {
  subnet: string;
  requestId?: string;
  /** Defaults to session when a session is set, else escrow. */
  payment?: "session" | "escrow";
  timeoutMs?: number;
  onProgress?: (e: ProgressEvent) => void;
  signal?: AbortSignal;
}

export interface InferResult {
  response: InferenceResponse;
  /** Output tensors, decoded. */
  outputs: Record<string, Tensor>;
}

/**
 * Client of an NCN gateway: quotes, paid requests (session vouchers or escrow),
 * progress, cancel, and offline receipt verification.
 *
 * @example
 * const client = new NcnClient({ gatewayUrl, account, sessionId });
 * const { response } = await client.ocr({ subnet: "ocr", image: pngBytes });
 * console.log(response.result);
 */
export class NcnClient {
  readonly gatewayUrl: string;
  readonly #fetch: typeof fetch;
  readonly #account: LocalAccount | undefined;
  #sessionId: `0x${string}` | undefined;
  #validatorSet: (() => Promise<ValidatorSet>) | undefined;
  /** Sum of prices of requests that succeeded on this session (plus what was settled before). */
  #spent = 0n;
  /** Sum of prices of results this client's streams received on the session. */
  #streamReceived = 0n;
  /** `#spent` started from a known figure (`registerSession`, or one given to `useSession`). */
  #spentKnown = false;
  /** Prices of requests in flight, by request id. */
  #inflight = new Map<string, bigint>();
  /**
   * Prices of requests whose answer was lost (a dropped connection, a reply before the end):
   * they may have run and been charged, so vouchers keep covering them until `status` reads
   * them back as returned (then spent) or failed (then dropped).
   */
  #unanswered = new Map<string, bigint>();
  /**
   * Voucher amounts already signed on this session: the gateway takes each voucher for one
   * request only, so after a failed request the next one signs a fresh amount.
   */
  #signed = new Set<bigint>();
  /** The amount of the last voucher this client signed (0 before the first). */
  #lastVoucher = 0n;
  /** The acknowledgement waiting for the session to stay quiet (see `#acknowledgeWhenIdle`). */
  #idleAcknowledge: ReturnType<typeof setTimeout> | undefined;
  #quotes = new Map<string, Quote>();
  #gatewayInfo: Promise<GatewayInfo> | undefined;
  /** RequestAccess signatures by request id (a request's payer signs once per request). */
  #access = new Map<string, Promise<`0x${string}`>>();

  constructor(opts: NcnClientOptions) {
    this.gatewayUrl = opts.gatewayUrl.replace(/\/$/, "");
    this.#fetch = opts.fetch ?? fetch;
    this.#account = opts.account;
    this.#sessionId = opts.sessionId;
    this.#validatorSet = opts.validatorSet;
  }

  /** Pays future requests from `sessionId`; `spent` is what it already owes (from the gateway). */
  useSession(sessionId: `0x${string}`, spent?: bigint): void {
    if (sessionId !== this.#sessionId) {
      this.#signed.clear();
      this.#lastVoucher = 0n;
    }
    this.#sessionId = sessionId;
    // What the gateway reports as charged already includes whichever unanswered request ran.
    this.#unanswered.clear();
    this.#spent = spent ?? 0n;
    this.#spentKnown = spent !== undefined;
    this.#streamReceived = 0n;
  }

  /** Registers the session with the gateway and syncs what it has charged so far. */
  async registerSession(sessionId: `0x${string}`): Promise<SessionInfo> {
    const r = v.parse(
      SessionInfo,
      await this.#json("/v1/sessions", { method: "POST", body: JSON.stringify({ sessionId }) }),
    );
    this.useSession(sessionId, BigInt(r.charged));
    return r;
  }

  async health(): Promise<{ ok: boolean }> {
    return v.parse(v.object({ ok: v.boolean() }), await this.#json("/health"));
  }

  async quote(subnet: string, model: string): Promise<Quote> {
    const key = `${subnet}/${model}`;
    const cached = this.#quotes.get(key);
    if (cached) return cached;
    const q = v.parse(
      Quote,
      await this.#json(`/v1/quote?subnet=${encodeURIComponent(subnet)}&model=${encodeURIComponent(model)}`),
    );
    this.#quotes.set(key, q);
    return q;
  }

  /** Runs a registered ONNX model on named tensors. */
  async infer(
    opts: RequestOptions & { model: string; inputs: Record<string, Tensor> },
  ): Promise<InferResult> {
    const inputs = Object.fromEntries(Object.entries(opts.inputs).map(([k, t]) => [k, tensorToJson(t)]));
    const response = await this.#submit("/v1/inference", opts, opts.model, { model: opts.model, inputs });
    const outputs: Record<string, Tensor> =
      response.result?.kind === "tensor" ? tensorMapFromJson(response.result.outputs) : {};
    return { response, outputs };
  }

  /** OCR of a PNG or JPEG image. */
  async ocr(opts: RequestOptions & { image: Uint8Array; model?: string }): Promise<InferenceResponse> {
    const model = opts.model ?? "ppocr-v4";
    return await this.#submit("/v1/ocr", opts, model, { model, image: bytesToBase64(opts.image) });
  }

  /**
   * Generates text with a language model: a prompt (or chat messages) and sampling
   * parameters in; the result holds the text, its token ids and counts.
   *
   * @example const r = await client.generate({ subnet: "chat", model: "ncn-gpt", prompt: "Once", sampling: { max_tokens: 32 } });
   */
  async generate(
    opts: RequestOptions & { model: string; prompt: GeneratePrompt; sampling?: Partial<SamplingParams> },
  ): Promise<InferenceResponse> {
    return await this.#submit(
      "/v1/generate",
      opts,
      opts.model,
      { model: opts.model, prompt: opts.prompt, sampling: opts.sampling ?? {} },
      readResponse,
      generateInput(opts),
    );
  }

  /**
   * Generates text like `generate`, streaming the tokens as the agent produces them. Resolves
   * once the gateway took the request (a refused payment throws here); then iterate the
   * stream for the tokens and await `response` for the validated result and its receipt (see
   * `GenerateStream` for what each may be relied on for). Progress events go to `onProgress`.
   *
   * @example
   * const stream = await client.generateStream({ subnet: "chat", model: "ncn-gpt", prompt: "Once" });
   * for await (const t of stream) process.stdout.write(t.text);
   * const response = await stream.response; // result.text, receipt: verify with verifyReceipt
   */
  async generateStream(
    opts: RequestOptions & { model: string; prompt: GeneratePrompt; sampling?: Partial<SamplingParams> },
  ): Promise<GenerateStream> {
    const requestId = opts.requestId ?? crypto.randomUUID();
    const tokens = new TokenQueue();
    const abort = new AbortController();
    opts.signal?.addEventListener("abort", () => abort.abort(opts.signal?.reason), { once: true });
    let opened: () => void = () => undefined;
    const open = new Promise<void>((resolve) => {
      opened = resolve;
    });
    const { onProgress, ...rest } = opts;
    const response = this.#submit(
      "/v1/generate",
      { ...rest, requestId, signal: abort.signal },
      opts.model,
      { model: opts.model, prompt: opts.prompt, sampling: opts.sampling ?? {}, stream: true },
      async (res) => {
        opened();
        return await readGenerateStream(res, tokens, onProgress);
      },
      generateInput(opts),
    );
    let ended = false;
    response.then(
      () => {
        ended = true;
        tokens.end();
      },
      (e: unknown) => {
        ended = true;
        tokens.fail(e);
      },
    );
    await Promise.race([open, response]);
    const leave = () => {
      if (ended) return;
      // Left before the end: the rest is not wanted, so the request is cancelled (uncharged
      // unless its result was already validated), then read back to settle what is owed.
      abort.abort();
      void this.cancel(requestId)
        .then(() => this.status(requestId))
        .catch(() => undefined);
    };
    return { requestId, response, [Symbol.asyncIterator]: () => tokens.drain(leave) };
  }

  /**
   * Embeds texts with an embedding model: one vector (base64 float32, see `decodeEmbedding`)
   * per text, in order.
   */
  async embed(opts: RequestOptions & { model: string; texts: string[] }): Promise<InferenceResponse> {
    return await this.#submit(
      "/v1/embed",
      opts,
      opts.model,
      { model: opts.model, texts: opts.texts },
      readResponse,
      { kind: "embed", model: v.parse(ModelId, opts.model), texts: opts.texts },
    );
  }

  /** The gateway's chain identity (chain id, payment contract, its own address); cached. */
  gateway(): Promise<GatewayInfo> {
    this.#gatewayInfo ??= this.#json("/v1/gateway").then((r) => v.parse(GatewayInfo, r));
    this.#gatewayInfo.catch(() => {
      this.#gatewayInfo = undefined;
    });
    return this.#gatewayInfo;
  }

  /**
   * Signs a voucher for exactly what this client received on its session (its requests that
   * returned and its streams' results) and posts it to the gateway. The voucher each request
   * carries covers the requests in flight too, so when one of those failed, the last charges
   * can add up to none of them: the client does this by itself once nothing is in flight;
   * call it before stopping to be sure it reached the gateway (charges a client never
   * acknowledges are released after a while, unpaid). Answers the amount acknowledged
   * (undefined when nothing was received). Throws `BAD_REQUEST` while requests are in flight or unanswered (what is
   * owed is not known yet) or when the session's starting total is unknown (call
   * `registerSession`, or `useSession` with the spent amount, first).
   */
  async acknowledge(): Promise<bigint | undefined> {
    const sessionId = this.#sessionId;
    const account = this.#account;
    if (!sessionId || !account)
      throw new BaseError("BAD_REQUEST", "acknowledging needs an account and a session");
    if (!this.#spentKnown)
      throw new BaseError(
        "BAD_REQUEST",
        "what the session owed before this client is unknown: call registerSession (or useSession with it) first",
      );
    if (this.#inflight.size > 0 || this.#unanswered.size > 0)
      throw new BaseError(
        "BAD_REQUEST",
        "requests are still in flight or unanswered: read them back with status() first",
        { details: { inflight: this.#inflight.size, unanswered: this.#unanswered.size } },
      );
    const owed = this.#spent + this.#streamReceived;
    if (owed === 0n) return undefined;
    const g = await this.gateway();
    const signature = await account.signTypedData(
      typedData(ncnDomain(g.chainId, g.paymentContract as `0x${string}`), "Voucher", {
        sessionId,
        cumulativeAmount: owed,
      }),
    );
    await this.#json(`/v1/sessions/${sessionId}/vouchers`, {
      method: "POST",
      body: JSON.stringify({ cumulativeAmount: owed.toString(), signature }),
    });
    this.#lastVoucher = owed;
    return owed;
  }

  /**
   * The headers that prove this client paid for `requestId` (its EIP-712 `RequestAccess`
   * signature): a request's state, events and cancel belong to its payer.
   */
  async accessHeaders(requestId: string): Promise<Record<string, string>> {
    const account = this.#account;
    if (!account) return {};
    let signature = this.#access.get(requestId);
    if (!signature) {
      signature = this.gateway().then((g) =>
        account.signTypedData(
          requestAccessData(
            ncnDomain(g.chainId, g.paymentContract as `0x${string}`),
            requestId,
            g.gateway as `0x${string}`,
          ),
        ),
      );
      if (this.#access.size >= 1024) this.#access.delete(this.#access.keys().next().value as string);
      this.#access.set(requestId, signature);
      signature.catch(() => this.#access.delete(requestId));
    }
    return { [REQUEST_ACCESS_HEADER]: await signature };
  }

  /**
   * A request's state; with `waitMs`, the gateway answers once it is final or that time passed.
   * Reading back a request whose answer was lost settles what this client owes for it.
   */
  async status(requestId: string, opts: { waitMs?: number } = {}): Promise<InferenceResponse> {
    const wait = opts.waitMs ? `?wait=${Math.round(opts.waitMs)}` : "";
    let response: InferenceResponse;
    try {
      response = v.parse(
        InferenceResponse,
        await this.#json(`/v1/inference/${encodeURIComponent(requestId)}${wait}`, {
          headers: await this.accessHeaders(requestId),
        }),
      );
    } catch (e) {
      // Never created: nothing to pay for it.
      if (e instanceof BaseError && e.code === "REQUEST_NOT_FOUND") this.#unanswered.delete(requestId);
      throw e;
    }
    const price = this.#unanswered.get(requestId);
    if (price !== undefined && TERMINAL.has(response.state)) {
      this.#unanswered.delete(requestId);
      if (response.state === "returned") this.#addSpent(chargeOf(response, price));
    }
    return response;
  }

  async cancel(requestId: string): Promise<InferenceResponse> {
    return v.parse(
      InferenceResponse,
      await this.#json(`/v1/inference/${encodeURIComponent(requestId)}`, {
        method: "DELETE",
        headers: await this.accessHeaders(requestId),
      }),
    );
  }

  /** Progress events of a request (SSE), ending with the final response. */
  async *events(
    requestId: string,
    signal?: AbortSignal,
  ): AsyncGenerator<ProgressEvent | { final: InferenceResponse }> {
    const res = await this.#send(`${this.gatewayUrl}/v1/inference/${encodeURIComponent(requestId)}/events`, {
      headers: await this.accessHeaders(requestId),
      ...(signal ? { signal } : {}),
    });
    if (!res.ok || !res.body) throw errorFromBody(await res.json().catch(() => undefined), res.status);
    for await (const e of readRequestEvents(res.body)) {
      if (e.type === "final") {
        yield { final: e.response };
        return;
      }
      if (e.type === "progress") yield e.event;
    }
  }

  /** Verifies a response's receipt and attestations against the validator set on chain. */
  async verifyReceipt(response: InferenceResponse, domain?: NcnDomain): Promise<ReceiptVerification> {
    if (!this.#validatorSet) {
      throw new BaseError("BAD_REQUEST", "verifyReceipt needs a validatorSet reader (see chainValidatorSet)");
    }
    const d = domain ?? (await this.#domain(response));
    return verifyReceipt(response, await this.#validatorSet(), d);
  }

  /**
   * Opens a session stream for `subnet` (pipelined requests, batch validation): see
   * `NcnStream`. `model` is any model of the subnet, used once to learn the chain domain.
   */
  async openStream(opts: {
    subnet: string;
    model: string;
    window?: bigint;
    WebSocket?: WebSocketLike;
  }): Promise<NcnStream> {
    if (!this.#account || !this.#sessionId) {
      throw new BaseError("PAYMENT_REQUIRED", "a stream needs an account and a session (see useSession)");
    }
    const q = await this.quote(opts.subnet, opts.model);
    return NcnStream.open({
      gatewayUrl: this.gatewayUrl,
      sessionId: this.#sessionId,
      subnet: opts.subnet,
      account: this.#account,
      domain: ncnDomain(q.chainId, q.paymentContract as `0x${string}`),
      ...(opts.window === undefined ? {} : { window: opts.window }),
      ...(opts.WebSocket === undefined ? {} : { WebSocket: opts.WebSocket }),
      // What this client received on the session so far: a stream never acknowledges more.
      ...(this.#spentKnown ? { receivedBefore: this.#spent + this.#streamReceived } : {}),
      onReceived: (price) => {
        this.#streamReceived += price;
      },
    });
  }

  /**
   * Verifies a stream result against the validator set (see `verifyStreamResult`). The domain
   * defaults to the gateway's chain (`/v1/gateway`); pass it to verify without asking the gateway.
   */
  async verifyStreamResult(frame: StreamResultFrame, domain?: NcnDomain): Promise<StreamResultVerification> {
    if (!this.#validatorSet) {
      throw new BaseError("INVALID_INPUT", "verification needs a validatorSet reader in the client options");
    }
    const d = domain ?? (await this.gatewayDomain());
    return verifyStreamResult(frame, await this.#validatorSet(), d);
  }

  /** The EIP-712 domain of the gateway's payment contract (what receipts and vouchers are signed for). */
  async gatewayDomain(): Promise<NcnDomain> {
    const g = await this.gateway();
    return ncnDomain(g.chainId, g.paymentContract as `0x${string}`);
  }

  async #domain(response: InferenceResponse): Promise<NcnDomain> {
    const q = await this.quote(response.subnet, response.model);
    return ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
  }

  async #submit(
    path: string,
    opts: RequestOptions,
    model: string,
    body: Record<string, unknown>,
    read: (res: Response) => Promise<InferenceResponse> = readResponse,
    /** The task, when its model may be priced per token: the voucher then covers its maximum. */
    input?: TaskInput,
  ): Promise<InferenceResponse> {
    const requestId = opts.requestId ?? crypto.randomUUID();
    const mode = opts.payment ?? (this.#sessionId ? "session" : "escrow");
    let price = 0n;
    let domain: NcnDomain | undefined;
    if (mode === "session") {
      if (!this.#sessionId || !this.#account)
        throw new BaseError("BAD_REQUEST", "session payment needs an account and a session");
      const q = await this.quote(opts.subnet, model);
      price = input ? requestMaximum(q, input) : BigInt(q.price);
      domain = ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
    }
    // An escrow is spent only by its client: the request carries the client's claim to it.
    const headers = mode === "escrow" ? await this.accessHeaders(requestId) : {};
    const stop = opts.onProgress ? this.#follow(requestId, opts.onProgress, opts.signal) : undefined;
    // Count this request in flight before yielding, so that concurrent requests sign
    // vouchers that cover each other (and an acknowledgement waiting for a quiet moment waits on).
    if (mode === "session") this.#inflight.set(requestId, price);
    try {
      let floor = 0n;
      for (let attempt = 0; ; attempt++) {
        const payment = domain ? await this.#voucher(domain, floor) : { mode: "escrow" };
        try {
          const res = await this.#fetchOk(path, {
            method: "POST",
            headers,
            body: JSON.stringify({
              ...body,
              subnet: opts.subnet,
              requestId,
              payment,
              ...(opts.timeoutMs ? { timeoutMs: opts.timeoutMs } : {}),
            }),
            ...(opts.signal ? { signal: opts.signal } : {}),
          });
          const response = await read(res);
          // What it is charged: its receipt's price, at most the maximum the voucher covered.
          if (mode === "session" && response.state === "returned") this.#addSpent(chargeOf(response, price));
          // Answered before it ended (the wait ran out): it may still be charged.
          else if (mode === "session" && !TERMINAL.has(response.state))
            this.#unanswered.set(requestId, price);
          return response;
        } catch (e) {
          // No answer from the gateway (the connection dropped): the request may have run.
          if (mode === "session" && !gatewayAnswered(e)) this.#unanswered.set(requestId, price);
          // Another client of this session (or an earlier run) used that voucher amount: the
          // gateway names the next free one, and this request is sent once more with it.
          const next = voucherUsedNext(e);
          if (attempt > 0 || next === undefined) throw e;
          floor = next;
        }
      }
    } finally {
      this.#inflight.delete(requestId);
      stop?.abort();
      if (mode === "session") this.#acknowledgeWhenIdle();
    }
  }

  /**
   * Nothing in flight and the last voucher signed is not what this client owes (it counted a
   * request that then failed): acknowledges the exact amount in the background, so the last
   * charges settle without waiting for a next request.
   */
  #acknowledgeWhenIdle(): void {
    clearTimeout(this.#idleAcknowledge);
    if (this.#owedUnacknowledged() === undefined) return;
    // Back-to-back requests need none (each voucher covers what came before it): waiting for
    // a quiet moment keeps its signature check off the next request's path at the gateway.
    this.#idleAcknowledge = setTimeout(() => {
      this.#idleAcknowledge = undefined;
      const owed = this.#owedUnacknowledged();
      if (owed === undefined) return;
      this.#lastVoucher = owed;
      // Best effort: a later request or an explicit acknowledge() covers it as well.
      this.acknowledge().catch(() => undefined);
    }, IDLE_ACKNOWLEDGE_MS);
  }

  /** What this client owes when idle and no voucher of its says so; else undefined. */
  #owedUnacknowledged(): bigint | undefined {
    if (!this.#spentKnown || this.#inflight.size > 0 || this.#unanswered.size > 0) return undefined;
    const owed = this.#spent + this.#streamReceived;
    return owed === 0n || owed === this.#lastVoucher ? undefined : owed;
  }

  /**
   * Signs a voucher for everything this client owes, including the requests in flight, at
   * an amount never signed before (the gateway takes each voucher for one request) and not
   * below `floor`.
   */
  async #voucher(domain: NcnDomain, floor: bigint) {
    const sessionId = this.#sessionId as `0x${string}`;
    const account = this.#account as LocalAccount;
    // The session's running total: what this client's requests and streams received, plus
    // what is in flight or unanswered.
    let outstanding = this.#spent + this.#streamReceived;
    for (const p of this.#inflight.values()) outstanding += p;
    for (const p of this.#unanswered.values()) outstanding += p;
    if (outstanding < floor) outstanding = floor;
    while (this.#signed.has(outstanding)) outstanding += 1n;
    this.#signed.add(outstanding);
    this.#lastVoucher = outstanding;
    const signature = await account.signTypedData(
      typedData(domain, "Voucher", { sessionId, cumulativeAmount: outstanding }),
    );
    return { mode: "session", sessionId, cumulativeAmount: outstanding.toString(), signature };
  }

  #addSpent(price: bigint): void {
    this.#spent += price;
    // Amounts at or below what is spent are never computed again.
    const floor = this.#spent + this.#streamReceived;
    for (const a of this.#signed) if (a <= floor) this.#signed.delete(a);
  }

  #follow(requestId: string, onProgress: (e: ProgressEvent) => void, outer?: AbortSignal): AbortController {
    const ctl = new AbortController();
    outer?.addEventListener("abort", () => ctl.abort());
    void (async () => {
      // The request may not exist yet for a moment: retry briefly.
      for (let i = 0; i < 20 && !ctl.signal.aborted; i++) {
        try {
          for await (const e of this.events(requestId, ctl.signal)) {
            if ("final" in e) return;
            onProgress(e);
          }
          return;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
    })();
    return ctl;
  }

  async #json(path: string, init: RequestInit = {}): Promise<unknown> {
    const res = await this.#fetchOk(path, init);
    return await res.json().catch(() => undefined);
  }

  /** Sends a request to the gateway; one that never reaches it throws `UNAVAILABLE`, saying why. */
  async #send(url: string, init: RequestInit): Promise<Response> {
    try {
      return await this.#fetch(url, init);
    } catch (e) {
      throw networkErrorOf(e, { url, what: "the gateway" }) ?? e;
    }
  }

  /** A JSON request to the gateway; an answer that is not 2xx throws its typed error. */
  async #fetchOk(path: string, init: RequestInit = {}): Promise<Response> {
    const res = await this.#send(`${this.gatewayUrl}${path}`, {
      ...init,
      headers: { "content-type": "application/json", ...(init.headers ?? {}) },
    });
    if (res.ok) return res;
    const body: unknown = await res.json().catch(() => undefined);
    const err = errorFromBody(body, res.status);
    if (!v.is(ErrorBody, body)) notFromGateway.add(err);
    throw err;
  }
}

async function readResponse(res: Response): Promise<InferenceResponse> {
  return v.parse(InferenceResponse, await res.json().catch(() => undefined));
}

/**
 * Reads a streaming request's event stream: tokens into `tokens`, progress to `onProgress`;
 * returns the final response when it is `returned`, throws the request's typed error when it
 * ended otherwise (a gateway answer: nothing is owed), and an error that is not the gateway's
 * when the stream broke off before the end (the request may still finish and be charged).
 */
async function readGenerateStream(
  res: Response,
  tokens: TokenQueue,
  onProgress: ((e: ProgressEvent) => void) | undefined,
): Promise<InferenceResponse> {
  if (!res.body || !(res.headers.get("content-type") ?? "").includes("text/event-stream"))
    return await readResponse(res);
  for await (const e of readRequestEvents(res.body)) {
    if (e.type === "token") tokens.push(e.event);
    else if (e.type === "progress") onProgress?.(e.event);
    else if (e.response.state === "returned") return e.response;
    else {
      const error = e.response.error ?? {
        code: "INTERNAL",
        message: `the request ended ${e.response.state}`,
      };
      throw new BaseError(error.code, error.message, { details: { request: e.response } });
    }
  }
  const cut = new BaseError("UNAVAILABLE", "the event stream ended before the request's final event");
  notFromGateway.add(cut);
  throw cut;
}

/**
 * How long a session client stays quiet before it acknowledges, by itself, a total no voucher
 * of its matched (ms): long enough for the next of back-to-back requests to start.
 */
export const IDLE_ACKNOWLEDGE_MS = 250;

const TERMINAL: ReadonlySet<string> = new Set(["returned", "failed", "cancelled"]);

/**
 * Whether `e` is the gateway's own typed answer: a failure it reports is final and uncharged.
 * A dropped connection (a fetch error) or a reply that is not the gateway's error body is not.
 */
function gatewayAnswered(e: unknown): boolean {
  return e instanceof BaseError && !notFromGateway.has(e);
}

/** Errors made from a reply that was not the gateway's error body (a proxy's 502, say). */
const notFromGateway = new WeakSet<BaseError>();

/** The gateway's next free voucher amount, when `e` refused a voucher as already used. */
function voucherUsedNext(e: unknown): bigint | undefined {
  if (!(e instanceof BaseError) || e.code !== "PAYMENT_REQUIRED") return undefined;
  const parsed = v.safeParse(
    v.object({ reason: v.literal("voucher_used"), nextFree: v.pipe(v.string(), v.regex(/^\d+$/)) }),
    e.details,
  );
  return parsed.success ? BigInt(parsed.output.nextFree) : undefined;
}

/** What a returned request is charged: its price as the gateway answers it, never above `maximum`. */
function chargeOf(response: InferenceResponse, maximum: bigint): bigint {
  const charged = BigInt(response.price);
  return charged < maximum ? charged : maximum;
}

/** A `generate` task as the gateway will price it (sampling defaults applied). */
function generateInput(opts: {
  model: string;
  prompt: GeneratePrompt;
  sampling?: Partial<SamplingParams>;
}): TaskInput {
  return {
    kind: "generate",
    model: v.parse(ModelId, opts.model),
    prompt: opts.prompt,
    sampling: v.parse(SamplingParams, opts.sampling ?? {}),
  };
}

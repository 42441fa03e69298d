import { DurableObject } from "cloudflare:workers";
import {
  BaseError,
  type ErrorCode,
  hashTaskResult,
  type InferenceResponse,
  idToBytes32,
  ncnDomain,
  type ProgressEvent,
  type ResultFrame,
  receiptDigest,
  receiptMessage,
  receiptMismatch,
  sseEvent,
  type TaskInput,
  type TaskResult,
  type TokenDelta,
  type TokenEvent,
  taskCharge,
  typedData,
} from "@ncn/protocol";
import { recoverTypedDataAddress } from "viem";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import { escrowPayer } from "../logic/request/escrow.ts";
import {
  forgetAt,
  isCurrentTask,
  newRequest,
  type RequestEffect,
  type RequestEvent,
  type RequestRecord,
  responseOf,
  type SubmitInput,
  step,
  streamsTokens,
  TokenLog,
  taskFrameOf,
} from "../logic/request/index.ts";
import { isTerminal } from "../logic/request-machine.ts";
import { shardOf } from "../logic/scheduler.ts";
import { quorumLostError } from "../logic/validator-quorum.ts";
import { publicError } from "../public-error.ts";
import { type Rpc, rpc, unwrap } from "../rpc.ts";
import { gatherAttestations, refusedForTheAgent } from "../validators/client.ts";
import { knownQuorum } from "../validators/health.ts";

export type { SubmitInput } from "../logic/request/index.ts";

const log = logger("gateway:request");
/** Longest pause between two asks for a free agent. */
const MAX_POLL_MS = 400;
/** A queued request stops waiting this long before its deadline, leaving the agent time to run it. */
const MIN_RUN_MS = 1_000;

/**
 * One request's lifecycle, persisted: the rules are `logic/request` (`step`); this object
 * loads the record, steps it with each event (a submission, an agent's frame, an answer of
 * the validators, the chain or the Session, the client's cancel, the alarm), stores the new
 * record and carries out the effects. Every state is written before its effects start, so an
 * evicted object resumes from where it was (alarm-driven).
 */
export class RequestObject extends DurableObject<Env> {
  #req: RequestRecord | undefined;
  #loaded = false;
  #waiters = new Set<() => void>();
  #streams = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  /** Effects running in the background, by key: each runs once at a time. */
  #inflight = new Set<string>();
  /** The new request's payment check, started before its first write (see `#submit`). */
  #payment: Promise<{ payer: string } | { error: unknown }> | undefined;
  /** Every validator that attested the completion, once all answered (settlement asks them). */
  #lateAttesters: Promise<string[]> | undefined;
  /**
   * A streaming request's tokens so far, in memory only: a listener that joins late is sent
   * them first. Nothing about money reads them (the charge and the receipt come from the
   * validated result); an evicted object just has none to replay.
   */
  readonly #tokens = new TokenLog();

  // The input and the result are written once under keys of their own: the state that
  // changes at every step stays small however large the tensors or the image are.
  async #load(): Promise<RequestRecord | undefined> {
    if (!this.#loaded) {
      const got = await this.ctx.storage.get<unknown>(["request", "input", "result"]);
      const state = got.get("request") as Omit<RequestRecord, "input" | "result"> | undefined;
      const input = got.get("input") as TaskInput | undefined;
      if (state && input)
        this.#req = { ...state, input, result: got.get("result") as TaskResult | undefined };
      this.#loaded = true;
      // A failed request's reservation is dropped right after its state is stored: a process
      // that died between the two left it held, and the client's next voucher would fall short
      // by its price. Dropping it again is harmless (a reservation is dropped once).
      const req = this.#req;
      if (req && (req.state === "failed" || req.state === "cancelled") && req.payment.mode === "session") {
        await this.#run({ type: "release" }, undefined);
      }
      // A submission whose process died while its payment was being checked: the client got no
      // answer and reads it back as never created (it has no payer yet), so it stops covering
      // it, while the Session object may hold its reservation until the deadline (the client's
      // next vouchers fall short by its price). Dropped as a refused payment is: reservation
      // released, the id left free. A failed release throws and keeps it for the next load.
      if (req && req.state === "received" && req.payer === undefined) {
        if (req.payment.mode === "session") {
          const session = this.env.SESSION.get(this.env.SESSION.idFromName(req.payment.sessionId));
          await session.release(req.requestId);
        }
        await this.ctx.storage.delete(["request", "input", "result"]);
        this.#req = undefined;
      }
    }
    return this.#req;
  }

  async #save(req: RequestRecord, before: RequestRecord | undefined): Promise<void> {
    if (req.result && req.result !== before?.result) await this.ctx.storage.put("result", req.result);
    else if (!req.result && before?.result) await this.ctx.storage.delete("result"); // a spoiled attempt's
    const { input: _input, result: _result, ...state } = req;
    await this.ctx.storage.put("request", state);
  }

  /**
   * Steps the request with `event`, stores what changed and carries out the effects.
   * `caller` is the submitter, for the payment check. Returns the new record.
   */
  async #apply(event: RequestEvent, caller?: string): Promise<RequestRecord | undefined> {
    const req = await this.#load();
    if (!req) return undefined;
    const { state, effects } = step(req, event, Date.now(), { maxAttempts: configOf(this.env).MAX_ATTEMPTS });
    if (state !== req) {
      this.#req = state;
      await this.#save(state, req);
    }
    for (const effect of effects) await this.#run(effect, caller);
    return this.#req;
  }

  /**
   * Creates the request and checks its payment before answering (or returns the existing one
   * to its payer: idempotent by id), then runs it. `caller` is the signer of the request's
   * `RequestAccess`, when one was sent: an escrowed request needs the escrow's client.
   */
  submit(input: SubmitInput, caller: string | undefined): Promise<Rpc<InferenceResponse>> {
    return rpc(() => this.#submit(input, caller));
  }

  /** The request's payer (undefined while there is no such request or its payment was refused). */
  async payer(): Promise<string | undefined> {
    return (await this.#load())?.payer;
  }

  async #submit(input: SubmitInput, caller: string | undefined): Promise<InferenceResponse> {
    let existing = await this.#load();
    // A submission whose payment was refused claimed nothing: the id stays free for its payer
    // (otherwise anyone who sees an escrow's id could lock its client out of it).
    if (existing && existing.payer === undefined && isTerminal(existing.state)) {
      await this.ctx.storage.delete(["request", "input", "result"]);
      this.#req = undefined;
      existing = undefined;
    }
    if (existing) {
      // Whoever else knows the id gets nothing back: not the state, not the result.
      if (
        existing.subnet !== input.subnet ||
        existing.descriptor.id !== input.descriptor.id ||
        existing.payer === undefined ||
        caller !== existing.payer
      ) {
        throw new BaseError("CONFLICT", `request id ${input.requestId} is already used`, {
          details: {
            requestId: input.requestId,
            hint: "use a fresh request id; the payer reads an existing request with its RequestAccess signature",
          },
        });
      }
      return responseOf(existing);
    }
    const req = newRequest(input, Date.now());
    // The payment check leaves before anything is written: a write in progress holds every
    // outgoing call until it is on disk (the output gate), and this first write creates the
    // object's storage. So the two overlap instead of following each other.
    this.#payment = this.#paymentOutcome(req, caller);
    await this.ctx.storage.put("input", req.input);
    await this.#save(req, undefined);
    this.#req = req;
    for (const e of req.events) this.#notify(e);
    // The payment is checked before answering: the payer is known from the first answer on.
    const next = await this.#apply({ type: "submitted" }, caller);
    return responseOf(next ?? req);
  }

  /** Resolves when the request is terminal or `timeoutMs` passed. */
  async wait(timeoutMs: number): Promise<InferenceResponse | null> {
    const req = await this.#load();
    if (!req) return null;
    if (!isTerminal(req.state)) {
      await this.#apply({ type: "resume" });
      if (this.#req && !isTerminal(this.#req.state)) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(done, timeoutMs);
          const waiters = this.#waiters;
          function done() {
            clearTimeout(timer);
            waiters.delete(done);
            resolve();
          }
          this.#waiters.add(done);
        });
      }
    }
    return this.#req ? responseOf(this.#req) : null;
  }

  async status(): Promise<InferenceResponse | null> {
    const req = await this.#load();
    return req ? responseOf(req) : null;
  }

  async cancel(): Promise<InferenceResponse | null> {
    const req = await this.#apply({ type: "cancel" });
    return req ? responseOf(req) : null;
  }

  /** A progress frame from the agent running the current attempt. */
  async progress(taskId: string, stage: string, progress: number | null): Promise<void> {
    await this.#apply({ type: "progress", taskId, stage, progress });
  }

  /**
   * Result intake from the Subnet shard. Returns true when stored (the shard then acks
   * the agent); a result for a stale attempt or a forged receipt is refused.
   */
  async onResult(agent: string, frame: ResultFrame): Promise<boolean> {
    const req = await this.#load();
    if (!req) return false;
    if (req.receipt && req.receipt.signature === frame.receipt.signature) return true; // redelivery
    if (!isCurrentTask(req, frame.taskId, agent)) return false;
    const problem = await this.#checkReceipt(req, agent, frame);
    if (problem) {
      log.warn("receipt refused", { requestId: req.requestId, agent, problem });
      await this.#apply({ type: "resultRefused", taskId: frame.taskId, agent, problem });
      return false;
    }
    const next = await this.#apply({
      type: "resultSigned",
      taskId: frame.taskId,
      agent,
      result: frame.result,
      receipt: frame.receipt,
    });
    return next?.receipt?.signature === frame.receipt.signature;
  }

  /**
   * Token deltas of a streaming request from the agent running attempt `taskId` (the shard
   * checked that it holds that attempt): sent on to the listeners in index order, without
   * gaps. Before the first one goes out the request is stored as streamed, so that a failed
   * attempt then ends it rather than starting over on another agent.
   */
  async tokens(taskId: string, agent: string, deltas: TokenDelta[]): Promise<void> {
    const req = await this.#load();
    if (!req || !streamsTokens(req, taskId, agent)) return;
    const released = this.#tokens.accept(taskId, deltas);
    if (released.length === 0) return;
    if (!req.streamed) {
      const next = await this.#apply({ type: "tokensReleased", taskId, agent });
      if (!next?.streamed) return;
    }
    this.#sendTokens(req.requestId, released);
  }

  /** The current attempt failed (agent error, disconnect or missed deadline). */
  async onTaskFailed(taskId: string, agent: string, code: ErrorCode, message: string): Promise<void> {
    await this.#apply({ type: "taskFailed", taskId, agent, error: { code, message } });
  }

  override async alarm(): Promise<void> {
    const req = await this.#load();
    const at = req ? forgetAt(req, configOf(this.env).REQUEST_RETENTION_MS) : undefined;
    if (at === undefined) {
      await this.#apply({ type: "alarm" });
    } else if (Date.now() >= at) {
      // Past its retention: the record goes, and with it the object's storage.
      await this.ctx.storage.deleteAlarm();
      await this.ctx.storage.deleteAll();
      this.#req = undefined;
    } else {
      await this.ctx.storage.setAlarm(at);
    }
  }

  /** SSE (`GET .../events`) and WebSocket progress streams. */
  override async fetch(request: Request): Promise<Response> {
    const req = await this.#load();
    if (!req)
      return Response.json(
        { error: { code: "REQUEST_NOT_FOUND", message: "no such request" } },
        { status: 404 },
      );
    if (request.headers.get("Upgrade")?.toLowerCase() === "websocket") {
      const pair = new WebSocketPair();
      this.ctx.acceptWebSocket(pair[1], ["progress"]);
      for (const e of req.events) pair[1].send(JSON.stringify(e));
      for (const t of this.#tokenEvents(req.requestId, this.#tokens.released))
        pair[1].send(JSON.stringify({ type: "token", ...t }));
      if (isTerminal(req.state)) pair[1].send(JSON.stringify({ type: "final", response: responseOf(req) }));
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    for (const e of req.events) void writer.write(enc.encode(sseEvent("progress", e)));
    const tokens = this.#tokenEvents(req.requestId, this.#tokens.released);
    if (tokens.length > 0) void writer.write(enc.encode(tokens.map((t) => sseEvent("token", t)).join("")));
    if (isTerminal(req.state)) {
      void writer.write(enc.encode(sseEvent("final", responseOf(req))));
      void writer.close();
    } else {
      this.#streams.add(writer);
    }
    return new Response(readable, {
      headers: { "content-type": "text/event-stream", "cache-control": "no-cache", connection: "keep-alive" },
    });
  }

  override async webSocketMessage(): Promise<void> {
    // Progress sockets are one-way.
  }

  // ---- effects -------------------------------------------------------------------

  async #run(effect: RequestEffect, caller: string | undefined): Promise<void> {
    const req = this.#req;
    if (!req) return;
    switch (effect.type) {
      case "checkPayment": {
        const started = this.#payment;
        this.#payment = undefined;
        const outcome = await (started ?? this.#paymentOutcome(req, caller));
        if ("error" in outcome) {
          const err = publicError(outcome.error, { requestId: req.requestId });
          await this.#apply({ type: "paymentRefused", error: { code: err.code, message: err.shortMessage } });
          throw err; // with its details (what is required, the next free voucher amount)
        }
        await this.#apply({ type: "paymentChecked", payer: outcome.payer });
        return;
      }
      case "dispatch":
        return this.#spawn(
          "dispatch",
          () => this.#dispatch(req, effect.taskId, effect.attempt),
          (error) => ({
            type: "dispatchFailed",
            error,
          }),
        );
      case "validatePreprocess": {
        const agent = effect.agent;
        return this.#spawn(
          `preprocess:${agent}`,
          () => this.#runPreprocess(req, agent),
          (error, err) => ({
            type: "preprocessRefused",
            agent,
            error,
            // The validators refused this agent, not the request: another agent may serve it.
            agentCaused: refusedForTheAgent(refusalsOf(err)),
          }),
        );
      }
      case "validateCompletion":
        return this.#spawn(
          "completion",
          () => this.#validateCompletion(req),
          (error) => ({
            type: "completionRefused",
            error,
          }),
        );
      case "charge":
        return this.#spawn(
          "charge",
          () => this.#settle(req),
          (error) => ({ type: "settleFailed", error }),
        );
      case "release":
        if (req.payment.mode === "session") {
          const session = this.env.SESSION.get(this.env.SESSION.idFromName(req.payment.sessionId));
          await session.release(req.requestId).catch(() => undefined);
        }
        return;
      case "cancelTask": {
        const stub = this.env.SUBNET.get(this.env.SUBNET.idFromName(`${req.subnet}:${effect.shard}`));
        await stub.cancel(effect.taskId, effect.reason).catch(() => undefined);
        return;
      }
      case "fail":
        log.info("request failed", { requestId: req.requestId, code: effect.code, error: effect.message });
        return;
      case "notify":
        this.#notify(effect.event);
        return;
      case "finish":
        this.#finish(req);
        return;
      case "setAlarm":
        await this.ctx.storage.setAlarm(effect.at);
        return;
    }
  }

  /**
   * Runs `work` in the background unless the same work is already running, then steps the
   * request with its answer (or with `refused` of its error).
   */
  #spawn(
    key: string,
    work: () => Promise<RequestEvent | undefined>,
    refused: (error: { code: ErrorCode; message: string }, err: BaseError) => RequestEvent,
  ): void {
    if (this.#inflight.has(key)) return;
    this.#inflight.add(key);
    const run = async () => {
      try {
        let event: RequestEvent | undefined;
        try {
          event = await work();
        } catch (e) {
          const err = publicError(e, { requestId: this.#req?.requestId });
          event = refused({ code: err.code, message: err.shortMessage }, err);
        }
        // Still marked running while its answer is applied: a resume meanwhile does not start it again.
        if (event) await this.#apply(event);
      } finally {
        this.#inflight.delete(key);
      }
    };
    this.ctx.waitUntil(
      run().catch((e: unknown) =>
        log.error("request step failed", { requestId: this.#req?.requestId, error: String(e) }),
      ),
    );
  }

  /** The payment check, started: its payer, or the error that refused it (never a rejection). */
  #paymentOutcome(
    req: RequestRecord,
    caller: string | undefined,
  ): Promise<{ payer: string } | { error: unknown }> {
    return this.#checkPayment(req, caller).then(
      (payer) => ({ payer }),
      (error: unknown) => ({ error }),
    );
  }

  /** Checks the payment; returns the payer (lowercased). */
  async #checkPayment(req: RequestRecord, caller: string | undefined): Promise<string> {
    const config = configOf(this.env);
    if (req.payment.mode === "session") {
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(req.payment.sessionId));
      return unwrap(
        await session.authorize(
          req.payment.sessionId,
          req.requestId,
          req.price,
          req.payment.cumulativeAmount,
          req.payment.signature,
        ),
      );
    }
    const chain = chainOf(config);
    const escrow = await chain.readEscrow(idToBytes32(req.requestId));
    return escrowPayer(escrow, { ...req, gateway: chain.gateway, contract: config.PAYMENT_CONTRACT }, caller);
  }

  /** Reserves an agent on some shard and sends it the task; waits a little for one to free up. */
  async #dispatch(req: RequestRecord, taskId: string, attempt: number): Promise<RequestEvent | undefined> {
    const config = configOf(this.env);
    // Known to have no validator quorum (a retry after the loss, say): the work would be refused.
    const quorum = knownQuorum(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD);
    if (quorum && !quorum.ok) throw quorumLostError(quorum);
    const shards = config.SUBNET_SHARDS;
    // No capable agent at all: fail fast. Capable agents that are all busy: queue until the deadline.
    const noAgentUntil = Math.min(req.deadline, Date.now() + config.NO_AGENT_WAIT_MS);
    const first = shardOf(req.requestId, shards);
    let pollMs = 25;
    for (;;) {
      let busy = 0;
      const taskDeadline = Math.min(req.deadline, Date.now() + config.TASK_TIMEOUT_MS);
      const task = taskFrameOf(req, taskId, taskDeadline);
      for (let i = 0; i < shards; i++) {
        const shard = (first + i) % shards;
        const stub = this.env.SUBNET.get(this.env.SUBNET.idFromName(`${req.subnet}:${shard}`));
        const { agent, busy: full } = await stub.dispatch(
          task,
          {
            runtime: req.descriptor.runtime,
            modelHashes: [req.descriptor.sha256, ...req.pipeline.map((m) => m.sha256)],
          },
          req.tried,
        );
        if (agent)
          return { type: "dispatched", task: { taskId, shard, agent, deadline: taskDeadline }, attempt };
        busy += full;
      }
      const waitUntil = busy > 0 ? req.deadline - MIN_RUN_MS : noAgentUntil;
      if (Date.now() + pollMs > waitUntil) return { type: "noAgent" };
      // Back off (with jitter) so that many waiting requests do not hammer the shard.
      await sleep(pollMs * (0.5 + Math.random()));
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
      if (!this.#req || isTerminal(this.#req.state)) return undefined;
    }
  }

  async #runPreprocess(req: RequestRecord, agent: string): Promise<RequestEvent> {
    const config = configOf(this.env);
    const { attestations } = await gatherAttestations(
      config.REGISTRY_URLS,
      "/v1/validate/preprocess",
      await this.#preprocessBody(req, agent),
      config.VALIDATION_THRESHOLD,
      Math.max(1000, req.deadline - Date.now()),
    );
    return { type: "preprocessAttested", agent, attestations };
  }

  /** What validators pre-attest: the request's terms and the session's authorising voucher. */
  async #preprocessBody(req: RequestRecord, agent: string) {
    let payment = req.payment;
    if (payment.mode === "session") {
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(payment.sessionId));
      const top = await session.authorisingVoucher();
      if (top)
        payment = {
          ...payment,
          cumulativeAmount: top.amount,
          signature: top.signature as typeof payment.signature,
        };
    }
    return {
      requestId: req.requestId,
      subnet: req.subnet,
      model: req.descriptor.id,
      agent,
      price: req.price,
      payment,
      deadline: req.deadline,
    };
  }

  async #validateCompletion(req: RequestRecord): Promise<RequestEvent> {
    const config = configOf(this.env);
    if (!req.receipt || !req.result || !req.task) throw new BaseError("INTERNAL", "no result to validate");
    const body = {
      requestId: req.requestId,
      subnet: req.subnet,
      agent: req.task.agent,
      price: req.price,
      deadline: req.deadline,
      input: req.input,
      result: req.result,
      receipt: req.receipt,
    };
    const { attestations, attesters, all, refusals } = await gatherAttestations(
      config.REGISTRY_URLS,
      "/v1/validate/completion",
      body,
      config.VALIDATION_THRESHOLD,
      Math.max(1000, req.deadline - Date.now()),
    );
    // Validators that refused only because they never pre-attested (their preprocess ask was
    // lost, or arrived after the completion's) are caught up in the background: pre-attested,
    // then asked for the completion again. A receipt every validator attested can go in any
    // quorum's settlement batch; one seen by a single pair can leave a session's last charges
    // with no quorum that signs them all.
    this.#lateAttesters = all.then(async (urls) => [
      ...urls,
      ...(await this.#catchUp(
        req,
        body,
        refusals.filter((r) => r.reason === "not_preattested"),
      )),
    ]);
    return { type: "completionAttested", attestations, attesters };
  }

  async #settle(req: RequestRecord): Promise<RequestEvent> {
    if (!req.receipt || !req.completion) throw new BaseError("INTERNAL", "nothing to settle");
    if (req.payment.mode === "session") {
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(req.payment.sessionId));
      unwrap(
        // The receipt's price: the charge (the rest of the reservation goes back at once).
        await session.commit(req.payment.sessionId, req.requestId, req.receipt.receipt.price, {
          agent: req.receipt.receipt.agent,
          receiptDigest: receiptDigest(this.#domain(), req.receipt.receipt),
          attesters: req.completionAttesters,
        }),
      );
      this.#reportLateAttesters(req.requestId, req.completionAttesters ?? []);
      return { type: "settled" };
    }
    const chain = chainOf(configOf(this.env));
    await chain.completeEscrow(
      req.receipt.receipt,
      req.completion.map((a) => a.signature),
    );
    return { type: "settled" };
  }

  /**
   * Pre-attests the request with each of `missed`, then asks it for the completion; returns
   * the ones that attested it. Best effort: a refusal (the deadline passed, say) leaves it out.
   */
  async #catchUp(
    req: RequestRecord,
    completion: Parameters<typeof gatherAttestations>[2],
    missed: readonly { url: string }[],
  ): Promise<string[]> {
    // Only a session's settlement asks attesters to sign again; an escrow is paid with the quorum's.
    if (missed.length === 0 || !req.task || req.payment.mode !== "session") return [];
    const agent = req.task.agent;
    const preprocess = await this.#preprocessBody(req, agent).catch(() => undefined);
    if (!preprocess) return [];
    const timeoutMs = Math.max(1000, req.deadline - Date.now());
    const caught = await Promise.all(
      missed.map(async ({ url }) => {
        try {
          await gatherAttestations([url], "/v1/validate/preprocess", preprocess, 1, timeoutMs);
          await gatherAttestations([url], "/v1/validate/completion", completion, 1, timeoutMs);
          return url;
        } catch {
          return undefined;
        }
      }),
    );
    const urls = caught.filter((u): u is string => u !== undefined);
    if (urls.length > 0) log.info("validators caught up on a completion", { requestId: req.requestId, urls });
    return urls;
  }

  /** Validators that attested after the quorum was reached can sign the settlement too: say so. */
  #reportLateAttesters(requestId: string, known: readonly string[]): void {
    const all = this.#lateAttesters;
    if (!all) return;
    this.ctx.waitUntil(
      all
        .then(async (urls) => {
          if (urls.every((u) => known.includes(u))) return;
          await this.env.SETTLEMENT.get(this.env.SETTLEMENT.idFromName("main")).attested([
            { requestId, urls },
          ]);
        })
        .catch(() => undefined),
    );
  }

  async #checkReceipt(req: RequestRecord, agent: string, frame: ResultFrame): Promise<string | undefined> {
    const r = frame.receipt.receipt;
    if (frame.result.kind !== req.input.kind) return "result kind does not match the task";
    // Priced per token: the receipt binds the charge of the result's usage, never above the maximum.
    let price: string;
    try {
      price = taskCharge(req, frame.result).toString();
    } catch {
      return "the result does not count the tokens its price needs";
    }
    const mismatch = receiptMismatch(r, {
      agent,
      requestId: idToBytes32(req.requestId),
      subnetId: idToBytes32(req.subnet),
      modelId: idToBytes32(req.descriptor.id),
      modelHash: req.descriptor.sha256,
      inputHash: req.inputHash,
      price,
      outputHash: hashTaskResult(frame.result),
    });
    if (mismatch) return mismatch.message;
    const domain = this.#domain();
    try {
      const signer = await recoverTypedDataAddress({
        ...typedData(domain, "InferenceReceipt", receiptMessage(r)),
        signature: frame.receipt.signature,
      });
      if (signer.toLowerCase() !== agent.toLowerCase()) return "receipt signature is not the agent's";
    } catch {
      return "receipt signature cannot be recovered";
    }
    return undefined;
  }

  #domain() {
    const config = configOf(this.env);
    return ncnDomain(config.CHAIN_ID, config.PAYMENT_CONTRACT);
  }

  #tokenEvents(requestId: string, deltas: readonly TokenDelta[]): TokenEvent[] {
    return deltas.map((d) => ({ requestId: requestId as TokenEvent["requestId"], ...d }));
  }

  /** Token events to every listener: one write per frame on SSE, one message per token on the socket. */
  #sendTokens(requestId: string, deltas: readonly TokenDelta[]): void {
    const events = this.#tokenEvents(requestId, deltas);
    const enc = new TextEncoder().encode(events.map((t) => sseEvent("token", t)).join(""));
    for (const w of this.#streams) void w.write(enc).catch(() => this.#streams.delete(w));
    for (const ws of this.ctx.getWebSockets("progress")) {
      try {
        for (const t of events) ws.send(JSON.stringify({ type: "token", ...t }));
      } catch {}
    }
  }

  #notify(e: ProgressEvent): void {
    const enc = new TextEncoder().encode(sseEvent("progress", e));
    for (const w of this.#streams) void w.write(enc).catch(() => this.#streams.delete(w));
    for (const ws of this.ctx.getWebSockets("progress")) {
      try {
        ws.send(JSON.stringify(e));
      } catch {}
    }
  }

  #finish(req: RequestRecord): void {
    const final = responseOf(req);
    const enc = new TextEncoder().encode(sseEvent("final", final));
    for (const w of this.#streams) {
      void w
        .write(enc)
        .then(() => w.close())
        .catch(() => undefined);
    }
    this.#streams.clear();
    for (const ws of this.ctx.getWebSockets("progress")) {
      try {
        ws.send(JSON.stringify({ type: "final", response: final }));
        ws.close(1000, "done");
      } catch {}
    }
    for (const w of [...this.#waiters]) w();
    // The deadline alarm is no longer needed: the next one deletes the record (see `forgetAt`).
    const at = forgetAt(req, configOf(this.env).REQUEST_RETENTION_MS);
    if (at !== undefined) void this.ctx.storage.setAlarm(at);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** The per-validator refusals a quorum error carries. */
function refusalsOf(err: BaseError): { reason?: string }[] {
  const d = err.details;
  if (typeof d !== "object" || d === null || !("refusals" in d) || !Array.isArray(d.refusals)) return [];
  return d.refusals.filter(
    (r): r is { reason?: string } =>
      typeof r === "object" && r !== null && (!("reason" in r) || typeof r.reason === "string"),
  );
}

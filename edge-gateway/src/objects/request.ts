import { DurableObject } from "cloudflare:workers";
import {
  type AttestationSig,
  BaseError,
  type ErrorCode,
  hashTaskInput,
  hashTaskResult,
  type InferenceResponse,
  idToBytes32,
  type ModelDescriptor,
  ncnDomain,
  type Payment,
  type ProgressEvent,
  type RequestState,
  type ResultFrame,
  receiptDigest,
  receiptMessage,
  receiptMismatch,
  type SignedReceipt,
  type TaskFrame,
  type TaskInput,
  type TaskResult,
  typedData,
} from "@ncn/protocol";
import { recoverTypedDataAddress } from "viem";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import { canTransition, isTerminal } from "../logic/request-machine.ts";
import { shardOf } from "../logic/scheduler.ts";
import { quorumLostError } from "../logic/validator-quorum.ts";
import { publicError } from "../public-error.ts";
import { type Rpc, rpc, unwrap } from "../rpc.ts";
import { gatherAttestations, refusedForTheAgent } from "../validators/client.ts";
import { knownQuorum } from "../validators/health.ts";

const log = logger("gateway:request");
/** Longest pause between two asks for a free agent. */
const MAX_POLL_MS = 400;
/** A queued request stops waiting this long before its deadline, leaving the agent time to run it. */
const MIN_RUN_MS = 1_000;

/** What the worker hands a new request. */
export interface SubmitInput {
  requestId: string;
  subnet: string;
  input: TaskInput;
  payment: Payment;
  price: string;
  descriptor: ModelDescriptor;
  pipeline: ModelDescriptor[];
  timeoutMs: number;
}

interface StoredRequest extends SubmitInput {
  /** Who paid (session client or escrow client), lowercased: the only one who may read or cancel. */
  payer: string | undefined;
  state: RequestState;
  createdAt: number;
  updatedAt: number;
  deadline: number;
  inputHash: `0x${string}`;
  attempts: number;
  tried: string[];
  task: { taskId: string; shard: number; agent: string; deadline: number } | undefined;
  preprocess: AttestationSig[] | undefined;
  result: TaskResult | undefined;
  receipt: SignedReceipt | undefined;
  completion: AttestationSig[] | undefined;
  /** Validators (URLs) whose completion attestations are in `completion`. */
  completionAttesters?: string[] | undefined;
  error: { code: ErrorCode; message: string } | undefined;
  /** Why the previous attempt failed: the reason reported if no agent is left to retry on. */
  lastFailure: { code: ErrorCode; message: string } | undefined;
  events: ProgressEvent[];
}

/**
 * One request's lifecycle as a persisted state machine: payment, preprocess
 * validation, dispatch (optimistically alongside validation), result intake,
 * completion validation, settlement. Every step is written to storage before the
 * next starts, so an evicted object resumes from where it was (alarm-driven).
 */
export class RequestObject extends DurableObject<Env> {
  #req: StoredRequest | undefined;
  #loaded = false;
  #waiters = new Set<() => void>();
  #streams = new Set<WritableStreamDefaultWriter<Uint8Array>>();
  #running = false;
  #preprocessRun: Promise<void> | undefined;
  /** Every validator that attested the completion, once all answered (settlement asks them). */
  #lateAttesters: Promise<string[]> | undefined;

  // The input and the result are written once under keys of their own: the state that
  // changes at every step stays small however large the tensors or the image are.
  async #load(): Promise<StoredRequest | undefined> {
    if (!this.#loaded) {
      const got = await this.ctx.storage.get<unknown>(["request", "input", "result"]);
      const state = got.get("request") as Omit<StoredRequest, "input" | "result"> | undefined;
      const input = got.get("input") as TaskInput | undefined;
      if (state && input)
        this.#req = { ...state, input, result: got.get("result") as TaskResult | undefined };
      this.#loaded = true;
    }
    return this.#req;
  }

  async #save(): Promise<void> {
    if (this.#req) {
      this.#req.updatedAt = Date.now();
      const { input: _input, result: _result, ...state } = this.#req;
      await this.ctx.storage.put("request", state);
    }
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
      return this.#response(existing);
    }
    const now = Date.now();
    this.#req = {
      ...input,
      payer: undefined,
      state: "received",
      createdAt: now,
      updatedAt: now,
      deadline: now + input.timeoutMs,
      inputHash: hashTaskInput(input.input),
      attempts: 0,
      tried: [],
      task: undefined,
      preprocess: undefined,
      result: undefined,
      receipt: undefined,
      completion: undefined,
      error: undefined,
      lastFailure: undefined,
      events: [],
    };
    this.#event("received");
    await this.ctx.storage.put("input", this.#req.input);
    await this.#save();
    await this.ctx.storage.setAlarm(this.#req.deadline);
    const req = this.#req;
    // The payment is checked before answering: the payer is known from the first answer on.
    try {
      req.payer = await this.#checkPayment(req, caller);
      this.#transition("payment_checked");
      await this.#save();
    } catch (e) {
      const err = publicError(e, { requestId: req.requestId });
      await this.#fail(err.code, err.shortMessage);
      throw err; // with its details (what is required, the next free voucher amount)
    }
    this.ctx.waitUntil(this.#advance());
    return this.#response(req);
  }

  /** Resolves when the request is terminal or `timeoutMs` passed. */
  async wait(timeoutMs: number): Promise<InferenceResponse | null> {
    const req = await this.#load();
    if (!req) return null;
    if (!isTerminal(req.state)) {
      if (!this.#running) this.ctx.waitUntil(this.#advance());
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
    return this.#req ? this.#response(this.#req) : null;
  }

  async status(): Promise<InferenceResponse | null> {
    const req = await this.#load();
    return req ? this.#response(req) : null;
  }

  async cancel(): Promise<InferenceResponse | null> {
    const req = await this.#load();
    if (!req) return null;
    if (!isTerminal(req.state) && req.state !== "completion_validated" && req.state !== "settled") {
      await this.#fail("CANCELLED", "cancelled by the client", "cancelled");
    }
    return this.#response(req);
  }

  /** A progress frame from the agent running the current attempt. */
  async progress(taskId: string, stage: string, progress: number | null): Promise<void> {
    const req = await this.#load();
    if (!req || req.task?.taskId !== taskId) return;
    this.#event(req.state, { stage, ...(progress === null ? {} : { progress }) });
  }

  /**
   * Result intake from the Subnet shard. Returns true when stored (the shard then acks
   * the agent); a result for a stale attempt or a forged receipt is refused.
   */
  async onResult(agent: string, frame: ResultFrame): Promise<boolean> {
    const req = await this.#load();
    if (!req) return false;
    if (req.receipt && req.receipt.signature === frame.receipt.signature) return true; // redelivery
    if (isTerminal(req.state) || req.task?.taskId !== frame.taskId || req.task.agent !== agent) return false;
    const problem = await this.#checkReceipt(req, agent, frame);
    if (problem) {
      log.warn("receipt refused", { requestId: req.requestId, agent, problem });
      await this.#retryOrFail("SIGNATURE_INVALID", `agent ${agent} returned an invalid receipt: ${problem}`);
      return false;
    }
    req.result = frame.result;
    req.receipt = frame.receipt;
    this.#transition("result_signed");
    await this.ctx.storage.put("result", frame.result);
    await this.#save();
    this.ctx.waitUntil(this.#advance());
    return true;
  }

  /** The current attempt failed (agent error, disconnect or missed deadline). */
  async onTaskFailed(taskId: string, agent: string, code: ErrorCode, message: string): Promise<void> {
    const req = await this.#load();
    if (!req || req.task?.taskId !== taskId || req.task.agent !== agent || isTerminal(req.state)) return;
    if (req.state !== "dispatched" && req.state !== "reserved") return;
    await this.#retryOrFail(code, message);
  }

  override async alarm(): Promise<void> {
    const req = await this.#load();
    if (!req || isTerminal(req.state)) return;
    // A validated result is delivered and charged even when its settlement step runs past the
    // deadline: failing it then would withhold a result whose charge may already be committed.
    if (Date.now() >= req.deadline && req.state !== "completion_validated" && req.state !== "settled") {
      await this.#fail("DEADLINE_EXCEEDED", "the request did not finish before its deadline");
      return;
    }
    if (Date.now() >= req.deadline) {
      await this.#advance();
      return;
    }
    // Woken after an eviction: pick up where the stored state left off.
    await this.ctx.storage.setAlarm(req.deadline);
    await this.#advance();
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
      if (isTerminal(req.state))
        pair[1].send(JSON.stringify({ type: "final", response: this.#response(req) }));
      return new Response(null, { status: 101, webSocket: pair[0] });
    }
    const { readable, writable } = new TransformStream<Uint8Array, Uint8Array>();
    const writer = writable.getWriter();
    const enc = new TextEncoder();
    for (const e of req.events) void writer.write(enc.encode(sse("progress", e)));
    if (isTerminal(req.state)) {
      void writer.write(enc.encode(sse("final", this.#response(req))));
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

  // ---- pipeline ------------------------------------------------------------------

  async #advance(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      for (;;) {
        const req = this.#req;
        if (!req || isTerminal(req.state)) return;
        const before = req.state;
        await this.#step(req);
        if (this.#req?.state === before) return; // waiting on an outside event
      }
    } catch (e) {
      const err = publicError(e, { requestId: this.#req?.requestId });
      log.error("request failed", { requestId: this.#req?.requestId, code: err.code, error: err.message });
      await this.#fail(err.code, err.shortMessage);
    } finally {
      this.#running = false;
    }
  }

  async #step(req: StoredRequest): Promise<void> {
    switch (req.state) {
      case "received":
        // Only after an eviction between storing the request and checking its payment:
        // nobody claimed it yet, so there is no payer to check a signature against.
        throw new BaseError("PAYMENT_REQUIRED", "the request's payment was never checked; submit it again");
      case "payment_checked":
        await this.#dispatch(req);
        return;
      case "reserved":
      case "dispatched":
      case "preprocess_validated":
        // Waiting for the agent; after an eviction the task may need to be sent again.
        if (!req.task) await this.#dispatch(req);
        return;
      case "result_signed": {
        await this.#ensurePreprocess(req);
        await this.#validateCompletion(req);
        this.#transition("completion_validated");
        await this.#save();
        return;
      }
      case "completion_validated":
        await this.#settle(req);
        this.#transition("settled");
        await this.#save();
        return;
      case "settled":
        this.#transition("returned");
        await this.#save();
        this.#finish();
        return;
      default:
        return;
    }
  }

  /** Checks the payment; returns the payer (lowercased). */
  async #checkPayment(req: StoredRequest, caller: string | undefined): Promise<string> {
    const config = configOf(this.env);
    const price = BigInt(req.price);
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
    const payTo = {
      contract: config.PAYMENT_CONTRACT,
      gateway: chain.gateway,
      amount: req.price,
      requestKey: idToBytes32(req.requestId),
      subnetId: idToBytes32(req.subnet),
    };
    if (!escrow?.open) {
      throw new BaseError("PAYMENT_REQUIRED", "no open escrow for this request id", { details: payTo });
    }
    if (escrow.gateway.toLowerCase() !== chain.gateway.toLowerCase()) {
      throw new BaseError("PAYMENT_REQUIRED", "the escrow names another gateway", { details: payTo });
    }
    if (escrow.subnetId.toLowerCase() !== idToBytes32(req.subnet)) {
      throw new BaseError("PAYMENT_REQUIRED", "the escrow is for another subnet", { details: payTo });
    }
    if (escrow.amount < price) {
      throw new BaseError("INSUFFICIENT_FUNDS", "the escrow holds less than the price", {
        details: { ...payTo, escrowed: escrow.amount.toString() },
      });
    }
    if (escrow.expiry * 1000 < req.deadline) {
      throw new BaseError("PAYMENT_EXPIRED", "the escrow expires before the request's deadline", {
        details: payTo,
      });
    }
    // The escrow's id is public once the escrow is mined: only its client may spend it.
    if (caller !== escrow.client.toLowerCase()) {
      throw new BaseError(
        "PAYMENT_REQUIRED",
        "an escrowed request must be sent by the escrow's client: sign RequestAccess {requestId, gateway} and send it in the ncn-access header",
        { details: payTo },
      );
    }
    return caller;
  }

  /** Reserves an agent on some shard and sends the task; waits a little for one to free up. */
  async #dispatch(req: StoredRequest): Promise<void> {
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
      req.attempts += 1;
      const taskId = `${req.requestId}:${req.attempts}`;
      const taskDeadline = Math.min(req.deadline, Date.now() + config.TASK_TIMEOUT_MS);
      const task = this.#taskFrame(req, taskId, taskDeadline);
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
        if (agent) {
          req.task = { taskId, shard, agent, deadline: taskDeadline };
          req.tried.push(agent);
          this.#transition("reserved");
          this.#transition("dispatched");
          await this.#save();
          // Optimistic execution: preprocess validation runs while the agent works.
          this.#preprocessRun ??= this.#startPreprocess(req);
          return;
        }
        busy += full;
      }
      req.attempts -= 1;
      const waitUntil = busy > 0 ? req.deadline - MIN_RUN_MS : noAgentUntil;
      if (Date.now() + pollMs > waitUntil) {
        if (req.lastFailure) {
          throw new BaseError(
            req.lastFailure.code,
            `${req.lastFailure.message} (no other agent to retry on)`,
          );
        }
        throw new BaseError(
          "NO_AGENT_AVAILABLE",
          `no agent in subnet ${req.subnet} can take this request now`,
          {
            details: { tried: req.tried.length },
          },
        );
      }
      // Back off (with jitter) so that many waiting requests do not hammer the shard.
      await sleep(pollMs * (0.5 + Math.random()));
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
      if (isTerminal(req.state)) return;
    }
  }

  async #runPreprocess(req: StoredRequest): Promise<void> {
    if (req.preprocess) return;
    const config = configOf(this.env);
    const agent = req.task?.agent;
    if (!agent) return;
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
    const { attestations } = await gatherAttestations(
      config.REGISTRY_URLS,
      "/v1/validate/preprocess",
      {
        requestId: req.requestId,
        subnet: req.subnet,
        model: req.descriptor.id,
        agent,
        price: req.price,
        payment,
        deadline: req.deadline,
      },
      config.VALIDATION_THRESHOLD,
      Math.max(1000, req.deadline - Date.now()),
    );
    // Pre-attested for an agent that has since been replaced: the new one's run counts.
    if (req.task?.agent !== agent) return;
    req.preprocess = attestations;
    this.#event("preprocess_validated");
    await this.#save();
  }

  /** Runs preprocess validation in the background; a refusal fails the request. */
  #startPreprocess(req: StoredRequest): Promise<void> {
    return this.#runPreprocess(req).catch(async (e: unknown) => {
      let err: BaseError;
      if (e instanceof BaseError) err = e;
      else {
        log.warn("preprocessing failed", { requestId: req.requestId, error: String(e) });
        err = new BaseError("VALIDATOR_UNAVAILABLE", "the validators could not be asked");
      }
      if (refusedForTheAgent(refusalsOf(err))) {
        // The validators refused this agent, not the request: another agent may serve it.
        this.#preprocessRun = undefined;
        await this.#retryOrFail(err.code, err.shortMessage);
        return;
      }
      await this.#fail(err.code, err.shortMessage);
    });
  }

  async #ensurePreprocess(req: StoredRequest): Promise<void> {
    if (req.preprocess) return;
    this.#preprocessRun ??= this.#startPreprocess(req);
    try {
      await this.#preprocessRun;
    } finally {
      this.#preprocessRun = undefined;
    }
    if (!req.preprocess) throw new BaseError("VALIDATION_REFUSED", "preprocess validation did not complete");
  }

  async #validateCompletion(req: StoredRequest): Promise<void> {
    if (req.completion) return;
    const config = configOf(this.env);
    if (!req.receipt || !req.result || !req.task) throw new BaseError("INTERNAL", "no result to validate");
    const { attestations, attesters, all } = await gatherAttestations(
      config.REGISTRY_URLS,
      "/v1/validate/completion",
      {
        requestId: req.requestId,
        subnet: req.subnet,
        agent: req.task.agent,
        price: req.price,
        deadline: req.deadline,
        input: req.input,
        result: req.result,
        receipt: req.receipt,
      },
      config.VALIDATION_THRESHOLD,
      Math.max(1000, req.deadline - Date.now()),
    );
    req.completion = attestations;
    req.completionAttesters = attesters;
    this.#lateAttesters = all;
  }

  async #settle(req: StoredRequest): Promise<void> {
    if (!req.receipt || !req.completion) throw new BaseError("INTERNAL", "nothing to settle");
    if (req.payment.mode === "session") {
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(req.payment.sessionId));
      unwrap(
        await session.commit(req.payment.sessionId, req.requestId, {
          agent: req.receipt.receipt.agent,
          receiptDigest: receiptDigest(this.#domain(), req.receipt.receipt),
          attesters: req.completionAttesters,
        }),
      );
      this.#reportLateAttesters(req.requestId, req.completionAttesters ?? []);
      return;
    }
    const chain = chainOf(configOf(this.env));
    await chain.completeEscrow(
      req.receipt.receipt,
      req.completion.map((a) => a.signature),
    );
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

  async #checkReceipt(req: StoredRequest, agent: string, frame: ResultFrame): Promise<string | undefined> {
    const r = frame.receipt.receipt;
    const mismatch = receiptMismatch(r, {
      agent,
      requestId: idToBytes32(req.requestId),
      subnetId: idToBytes32(req.subnet),
      modelId: idToBytes32(req.descriptor.id),
      modelHash: req.descriptor.sha256,
      inputHash: req.inputHash,
      price: req.price,
      outputHash: hashTaskResult(frame.result),
    });
    if (mismatch) return mismatch.message;
    if (frame.result.kind !== req.input.kind) return "result kind does not match the task";
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

  async #retryOrFail(code: ErrorCode, message: string): Promise<void> {
    const req = this.#req;
    if (!req || isTerminal(req.state)) return;
    const config = configOf(this.env);
    const previous = req.task;
    req.task = undefined;
    // Validators attest a completion only from the agent they pre-attested: the next agent is pre-attested anew.
    req.preprocess = undefined;
    this.#preprocessRun = undefined;
    if (previous) {
      const stub = this.env.SUBNET.get(this.env.SUBNET.idFromName(`${req.subnet}:${previous.shard}`));
      await stub.cancel(previous.taskId, "reassigned").catch(() => undefined);
    }
    if (req.attempts >= config.MAX_ATTEMPTS || Date.now() >= req.deadline) {
      await this.#fail(code, `${message} (after ${req.attempts} attempts)`);
      return;
    }
    req.lastFailure = { code, message };
    this.#event(req.state, { message: `attempt ${req.attempts} failed: ${code}; retrying on another agent` });
    req.state = "payment_checked";
    await this.#save();
    this.ctx.waitUntil(this.#advance());
  }

  async #fail(code: ErrorCode, message: string, state: "failed" | "cancelled" = "failed"): Promise<void> {
    const req = this.#req;
    if (!req || isTerminal(req.state)) return;
    req.error = { code, message };
    if (req.task) {
      const stub = this.env.SUBNET.get(this.env.SUBNET.idFromName(`${req.subnet}:${req.task.shard}`));
      await stub.cancel(req.task.taskId, message).catch(() => undefined);
    }
    // Never charged: drop the session reservation; an escrow is left to expire or be refunded.
    if (req.payment.mode === "session") {
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(req.payment.sessionId));
      await session.release(req.requestId).catch(() => undefined);
    }
    this.#transition(state);
    await this.#save();
    this.#finish();
  }

  #transition(to: RequestState): void {
    const req = this.#req;
    if (!req) return;
    if (!canTransition(req.state, to))
      throw new BaseError("INTERNAL", `illegal transition ${req.state} -> ${to}`);
    req.state = to;
    this.#event(to);
  }

  #event(state: RequestState, extra: Partial<ProgressEvent> = {}): void {
    const req = this.#req;
    if (!req) return;
    const e: ProgressEvent = { requestId: req.requestId as never, state, at: Date.now(), ...extra };
    req.events.push(e);
    const enc = new TextEncoder().encode(sse("progress", e));
    for (const w of this.#streams) void w.write(enc).catch(() => this.#streams.delete(w));
    for (const ws of this.ctx.getWebSockets("progress")) {
      try {
        ws.send(JSON.stringify(e));
      } catch {}
    }
  }

  #finish(): void {
    const req = this.#req;
    if (!req) return;
    const final = this.#response(req);
    const enc = new TextEncoder().encode(sse("final", final));
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
    void this.ctx.storage.deleteAlarm();
  }

  #taskFrame(req: StoredRequest, taskId: string, deadline: number): TaskFrame {
    const common = {
      type: "task" as const,
      taskId,
      requestId: req.requestId as never,
      subnet: req.subnet as never,
      model: req.descriptor,
      price: req.price,
      deadline,
    };
    return req.input.kind === "tensor"
      ? { ...common, kind: "tensor", inputs: req.input.inputs }
      : { ...common, kind: "ocr", image: req.input.image, pipeline: req.pipeline };
  }

  #response(req: StoredRequest): InferenceResponse {
    const released = req.state === "returned";
    const r: InferenceResponse = {
      requestId: req.requestId as never,
      state: req.state,
      subnet: req.subnet as never,
      model: req.descriptor.id,
      price: req.price,
      createdAt: req.createdAt,
      updatedAt: req.updatedAt,
    };
    if (req.task) r.agent = req.task.agent;
    // Results are released only after completion validation.
    if (released && req.result) r.result = req.result;
    if (released && req.receipt) r.receipt = req.receipt;
    if (released) r.attestations = [...(req.preprocess ?? []), ...(req.completion ?? [])];
    if (req.error) r.error = req.error;
    return r;
  }
}

function sse(event: string, data: unknown): string {
  return `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;
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

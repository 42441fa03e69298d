import {
  type AgentReceiptBatch,
  BaseError,
  type BatchedResult,
  type ErrorCode,
  type GatewayToAgentFrame,
  idToBytes32,
  issuesOf,
  type ModelDescriptor,
  merkleBatch,
  ncnDomain,
  type ResultBatchFrame,
  receiptDigest,
  receiptMismatch,
  STREAM_MAX_IN_FLIGHT,
  STREAM_PROTOCOL_VERSION,
  StreamClientFrame,
  type StreamInferFrame,
  type StreamResultsFrame,
  type StreamServerFrame,
  type TaskFrame,
  type TaskInput,
  type TensorMapJson,
} from "@ncn/protocol";
import * as v from "valibot";
import { loadCatalog, priceOf } from "../catalog.ts";
import { type Config, configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import { type Bucket, takeToken } from "../logic/rate-limit.ts";
import { type AgentView, pickAgent } from "../logic/scheduler.ts";
import { quorumLostError } from "../logic/validator-quorum.ts";
import { unwrap } from "../rpc.ts";
import { knownQuorum, ValidatorQuorumWatch } from "../validators/health.ts";
import {
  gatherStreamValidation,
  type StreamAnswer,
  streamQuorumError,
  ValidatorSockets,
} from "../validators/stream.ts";
import type { StreamStanding } from "./session.ts";

const log = logger("gateway:stream");

/** A stream leases credit for this many requests at a time, and refills below a quarter of it. */
const LEASE_REQUESTS = 256n;
/** Most requests in one validation call. */
const MAX_VALIDATION_BATCH = 256;
/** Validation calls of one session in flight at once; more results wait and go together. */
const MAX_VALIDATIONS_IN_FLIGHT = 2;
const VALIDATION_TIMEOUT_MS = 10_000;
/** Longest a delivered result waits to be charged together with others. */
const COMMIT_DELAY_MS = 100;
const DEFAULT_STREAM_TIMEOUT_MS = 30_000;
/**
 * Vouchers and challenge answers a stream may send: each costs a signature recovery and a
 * Session call, so a flood is refused (the SDK sends a few per second at most).
 */
const VOUCHERS_BURST = 64;
const VOUCHERS_PER_SECOND = 32;
/** Frames of any kind a stream may send (a frame may carry up to STREAM_MAX_IN_FLIGHT requests). */
const FRAMES_BURST = 4096;
const FRAMES_PER_SECOND = 2048;

/** What the hub needs of the Subnet shard that hosts it: its agents. */
export interface AgentPool {
  /**
   * Connected, fresh agents with their sockets. `running` counts only the per-request
   * path's tasks (the hub adds its own); may be cached for a moment.
   */
  agents(): { views: readonly AgentView[]; sockets: Map<string, WebSocket> };
  send(ws: WebSocket, frame: GatewayToAgentFrame): void;
}

interface Stream {
  key: string;
  ws: WebSocket;
  sessionId: `0x${string}`;
  subnet: string;
  /** The challenge sent on open; the client's signature over it makes the stream ready. */
  nonce: `0x${string}`;
  ready: boolean;
  closed: boolean;
  /** Credit leased from the Session object and not yet spent on a request. */
  lease: bigint;
  leasing: boolean;
  /** Requests waiting for credit, in arrival order. */
  waiting: Job[];
  /** Client ids in flight (an id may be reused once its answer was sent). */
  ids: Set<string>;
  standing: StreamStanding;
  /** The highest voucher this stream has shown: what validators are asked to check. */
  top: { amount: bigint; signature: `0x${string}` } | undefined;
  /** The challenge answer and then each voucher, checked in the order they arrived. */
  vouchers: Promise<void>;
  /** Token buckets of the frame limits. */
  frameBucket: Bucket | undefined;
  voucherBucket: Bucket | undefined;
  /** Delivered results not yet charged (see `#queueCharges`). */
  charges: Validated[];
  chargeTimer: ReturnType<typeof setTimeout> | undefined;
  committing: boolean;
}

interface Job {
  stream: Stream;
  id: string;
  requestId: string;
  price: bigint;
  descriptor: ModelDescriptor;
  input: TaskInput & { kind: "tensor" };
  deadline: number;
  attempts: number;
  tried: string[];
  taskId: string | undefined;
  agent: string | undefined;
  /** When the current attempt times out. */
  taskDeadline: number;
}

interface Validated {
  job: Job;
  item: BatchedResult;
  digest: `0x${string}`;
  batch: AgentReceiptBatch;
  proof: `0x${string}`[];
  /** Validators (URLs) that attested it: settlement asks them to sign for it. */
  attesters: string[];
}

interface SessionQueue {
  pending: Validated[];
  inflight: number;
  /** Sum of prices in validation calls now in flight. */
  inflightTotal: bigint;
}

/**
 * Session streams of one Subnet shard: the pipelined, batch-validated path. Requests
 * arrive on the client's socket, are charged against credit leased from the Session
 * object in blocks, queue here until an agent slot is free (pushed, not polled), run with
 * `receipts: "batch"`, and are validated per session in batches (one call per batch,
 * payment checked in the same call); each result goes back with its Merkle proofs and the
 * validators' attestations, and the validated batch is charged and queued for settlement.
 * State is in memory: a stream lives as long as its socket (the object stays in memory
 * while a non-hibernatable socket is open); credit not spent goes back on close.
 */
export class StreamHub {
  readonly #env: Env;
  readonly #pool: AgentPool;
  readonly #queue: Job[] = [];
  readonly #tasks = new Map<string, Job>();
  readonly #running = new Map<string, number>();
  readonly #validation = new Map<string, SessionQueue>();
  #seq = 0;
  #pumpQueued = false;
  readonly #validators = new ValidatorSockets();
  readonly #quorum = new ValidatorQuorumWatch();
  #sweepAt: number | undefined;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(env: Env, pool: AgentPool) {
    this.#env = env;
    this.#pool = pool;
  }

  /** Tasks this hub has on each agent (added to the shard's own reservations). */
  running(agent: string): number {
    return this.#running.get(agent) ?? 0;
  }

  /** Accepts a client's stream socket (the worker checked the path and query). */
  accept(sessionId: `0x${string}`, subnet: string): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    server.accept();
    const stream: Stream = {
      key: crypto.randomUUID(),
      ws: server,
      sessionId,
      subnet,
      nonce: randomBytes32(),
      ready: false,
      closed: false,
      lease: 0n,
      leasing: false,
      waiting: [],
      ids: new Set(),
      standing: { authorised: "0", charged: "0", deposit: "0" },
      top: undefined,
      vouchers: Promise.resolve(),
      frameBucket: undefined,
      voucherBucket: undefined,
      charges: [],
      chargeTimer: undefined,
      committing: false,
    };
    server.addEventListener("message", (e) => {
      try {
        this.#onMessage(stream, e.data);
      } catch (err) {
        log.error("stream frame failed", { error: String(err) });
        this.#send(stream, { type: "error", code: "INTERNAL", message: "the gateway failed on this frame" });
      }
    });
    server.addEventListener("close", () => {
      // Answer the client's close frame, or its socket waits ~30 s and ends with 1006.
      try {
        server.close(1000, "closed");
      } catch {}
      this.#onClose(stream);
    });
    server.addEventListener("error", () => this.#onClose(stream));
    this.#send(stream, { type: "challenge", v: STREAM_PROTOCOL_VERSION, nonce: stream.nonce as never });
    return new Response(null, { status: 101, webSocket: client });
  }

  // ---- client frames ---------------------------------------------------------------

  #onMessage(stream: Stream, data: string | ArrayBuffer): void {
    if (stream.closed) return;
    const config = configOf(this.#env);
    if (typeof data !== "string" || data.length > config.MAX_BODY_BYTES) {
      this.#send(stream, {
        type: "error",
        code: "INVALID_INPUT",
        message: `frames must be JSON text of at most ${config.MAX_BODY_BYTES} bytes`,
      });
      return;
    }
    let raw: unknown;
    try {
      raw = JSON.parse(data);
    } catch {
      this.#send(stream, { type: "error", code: "INVALID_INPUT", message: "frame is not valid JSON" });
      return;
    }
    const parsed = v.safeParse(StreamClientFrame, raw);
    if (!parsed.success) {
      const first = issuesOf(parsed.issues)[0];
      const id =
        typeof raw === "object" &&
        raw !== null &&
        "id" in raw &&
        typeof raw.id === "string" &&
        /^[A-Za-z0-9_.:-]{1,64}$/.test(raw.id)
          ? raw.id
          : undefined;
      this.#send(stream, {
        type: "error",
        ...(id === undefined ? {} : { id }),
        code: "INVALID_INPUT",
        message: `invalid frame: ${first?.path || "(root)"}: ${first?.message}`,
      });
      return;
    }
    const frame = parsed.output;
    const now = Date.now();
    const frames = takeToken(stream.frameBucket, now, FRAMES_BURST, FRAMES_PER_SECOND);
    stream.frameBucket = frames.bucket;
    let allowed = frames.allowed;
    if (allowed && (frame.type === "auth" || frame.type === "voucher")) {
      const vouchers = takeToken(stream.voucherBucket, now, VOUCHERS_BURST, VOUCHERS_PER_SECOND);
      stream.voucherBucket = vouchers.bucket;
      allowed = vouchers.allowed;
    }
    if (!allowed) {
      this.#refuseStream(
        stream,
        new BaseError("RATE_LIMITED", "this stream sends frames faster than allowed; it is closed", {
          details: { framesPerSecond: FRAMES_PER_SECOND, vouchersPerSecond: VOUCHERS_PER_SECOND },
        }),
      );
      return;
    }
    if (frame.type === "auth") {
      stream.vouchers = stream.vouchers.then(() => this.#onAuth(stream, frame.signature));
      return;
    }
    if (frame.type === "voucher") {
      const amount = BigInt(frame.amount);
      stream.vouchers = stream.vouchers.then(() => this.#onVoucher(stream, amount, frame.signature));
      return;
    }
    if (frame.type === "many") {
      for (const f of frame.frames) this.#onRequest(stream, f, config);
      return;
    }
    this.#onRequest(stream, frame, config);
  }

  #onRequest(stream: Stream, frame: StreamInferFrame, config: Config): void {
    if (!stream.ready) {
      // The challenge's answer being checked may make the stream ready: requests sent right behind it wait for it.
      void stream.vouchers.then(() => {
        if (stream.ready) {
          void this.#onInfer(stream, frame, config).catch((e: unknown) => this.#fail(stream, frame.id, e));
        } else {
          this.#send(stream, {
            type: "error",
            id: frame.id,
            code: "PAYMENT_REQUIRED",
            message: "answer the stream's challenge (StreamAuth signed by the session's client) first",
          });
        }
      });
      return;
    }
    void this.#onInfer(stream, frame, config).catch((e: unknown) => this.#fail(stream, frame.id, e));
  }

  /** The client's answer to the challenge: the only way a stream becomes ready. */
  async #onAuth(stream: Stream, signature: `0x${string}`): Promise<void> {
    if (stream.ready || stream.closed) return;
    try {
      stream.standing = unwrap(
        await this.#session(stream.sessionId).streamAuth(stream.sessionId, stream.nonce, signature),
      );
    } catch (e) {
      this.#refuseStream(stream, asError(e));
      return;
    }
    stream.ready = true;
    this.#send(stream, {
      type: "ready",
      v: STREAM_PROTOCOL_VERSION,
      sessionId: stream.sessionId as never,
      subnet: stream.subnet as never,
      authorised: stream.standing.authorised as never,
      charged: stream.standing.charged as never,
      maxInFlight: STREAM_MAX_IN_FLIGHT,
    });
  }

  async #onVoucher(stream: Stream, amount: bigint, signature: `0x${string}`): Promise<void> {
    // A voucher sent just before the client closed is still its word: it acknowledges the
    // last charges (those flushed at the close too), which settle only with it. Vouchers are
    // handled one after another, so the close often arrives while this one waits its turn.
    if (!stream.ready) {
      if (stream.closed) return;
      this.#refuseStream(
        stream,
        new BaseError(
          "PAYMENT_REQUIRED",
          "answer the stream's challenge (StreamAuth signed by the session's client) before sending vouchers",
        ),
      );
      return;
    }
    const session = this.#session(stream.sessionId);
    try {
      stream.standing = unwrap(await session.streamVoucher(stream.sessionId, amount.toString(), signature));
    } catch (e) {
      const err = asError(e);
      if (stream.closed) return;
      // A voucher the client did not sign ends the stream: nobody else may send vouchers on it.
      if (err.code === "PAYMENT_REQUIRED") this.#refuseStream(stream, err);
      else
        this.#send(stream, {
          type: "error",
          code: err.code,
          message: err.shortMessage,
          details: err.details,
        });
      return;
    }
    if (!stream.top || amount > stream.top.amount) stream.top = { amount, signature };
    const next = stream.waiting[0];
    if (next && !stream.closed) this.#refill(stream, next.price);
  }

  /** Tells the client why and closes the socket (policy violation). */
  #refuseStream(stream: Stream, err: BaseError): void {
    this.#send(stream, { type: "error", code: err.code, message: err.shortMessage, details: err.details });
    const reason =
      err.code === "PAYMENT_EXPIRED"
        ? "session expired"
        : err.code === "RATE_LIMITED"
          ? "too many frames"
          : "not the session's client";
    stream.ws.close(err.code === "RATE_LIMITED" ? 4008 : 4003, reason);
    this.#onClose(stream); // nothing more is read from it; its lease goes back now
  }

  async #onInfer(stream: Stream, frame: StreamInferFrame, config: Config): Promise<void> {
    if (stream.ids.has(frame.id)) {
      throw new BaseError("CONFLICT", `request ${frame.id} is already in flight on this stream`);
    }
    if (stream.ids.size >= STREAM_MAX_IN_FLIGHT) {
      throw new BaseError(
        "RATE_LIMITED",
        `at most ${STREAM_MAX_IN_FLIGHT} requests may be in flight on a stream`,
      );
    }
    stream.ids.add(frame.id);
    // Without a quorum the work would be computed and then refused: do not start it.
    await this.#quorum.require(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD);
    const catalog = await loadCatalog(config.REGISTRY_URLS);
    const { descriptor, price } = priceOf(catalog, stream.subnet, frame.model);
    if (descriptor.runtime !== "onnx") {
      throw new BaseError("INVALID_INPUT", `model ${frame.model} does not take tensor inputs`);
    }
    const input = { kind: "tensor" as const, model: frame.model, inputs: frame.inputs as TensorMapJson };
    const now = Date.now();
    const job: Job = {
      stream,
      id: frame.id,
      requestId: `s${now.toString(36)}${(this.#seq++).toString(36)}${stream.key.slice(0, 8)}`,
      price,
      descriptor,
      input,
      deadline: now + (frame.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS),
      attempts: 0,
      tried: [],
      taskId: undefined,
      agent: undefined,
      taskDeadline: 0,
    };
    if (stream.closed) return;
    if (stream.waiting.length === 0 && stream.lease >= price) {
      this.#spend(stream, job);
    } else {
      stream.waiting.push(job);
      this.#refill(stream, price);
    }
  }

  #spend(stream: Stream, job: Job): void {
    stream.lease -= job.price;
    if (stream.lease < (job.price * LEASE_REQUESTS) / 4n) this.#refill(stream, job.price);
    this.#queue.push(job);
    this.#pump();
  }

  /** Leases more credit from the Session object (one call at a time per stream). */
  #refill(stream: Stream, price: bigint): void {
    if (stream.leasing || stream.closed) return;
    let want = price * LEASE_REQUESTS;
    for (const j of stream.waiting) want += j.price;
    stream.leasing = true;
    void this.#session(stream.sessionId)
      .lease(stream.sessionId, stream.key, want.toString())
      .then((r) => {
        const got = unwrap(r);
        stream.standing = got;
        if (stream.closed) {
          // Only what this call granted: the rest of the lease still covers results
          // delivered before the close and charged after it.
          if (BigInt(got.granted) > 0n)
            void this.#session(stream.sessionId).returnLease(stream.key, got.granted);
          return;
        }
        stream.lease += BigInt(got.granted);
        while (stream.waiting.length > 0 && stream.lease >= (stream.waiting[0] as Job).price) {
          this.#spend(stream, stream.waiting.shift() as Job);
        }
        if (stream.waiting.length > 0 && BigInt(got.granted) === 0n) {
          const err = new BaseError(
            "PAYMENT_REQUIRED",
            "the session's vouchers do not cover more requests: send a voucher for a higher amount",
            { details: { authorised: got.authorised, charged: got.charged, deposit: got.deposit } },
          );
          for (const j of stream.waiting.splice(0)) this.#failJob(j, err, false);
        }
      })
      .catch((e: unknown) => {
        const err = asError(e);
        for (const j of stream.waiting.splice(0)) this.#failJob(j, err, false);
      })
      .finally(() => {
        stream.leasing = false;
      });
  }

  // ---- dispatch ---------------------------------------------------------------------

  /**
   * Dispatches soon (once per burst): requests that arrive together (one `many` frame,
   * one validated batch freeing many slots) go out together, one `tasks` frame per agent,
   * which the agent answers with one signed batch.
   */
  #pump(): void {
    if (this.#pumpQueued || this.#queue.length === 0) return;
    this.#pumpQueued = true;
    queueMicrotask(() => {
      this.#pumpQueued = false;
      this.#dispatch();
    });
  }

  /** Sends queued requests to free agent slots, oldest first. */
  #dispatch(): void {
    if (this.#queue.length === 0) return;
    const out = new Map<WebSocket, TaskFrame[]>();
    const config = configOf(this.#env);
    const quorum = knownQuorum(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD);
    if (quorum && !quorum.ok) {
      const err = quorumLostError(quorum);
      for (const job of this.#queue.splice(0)) {
        if (job.stream.closed) this.#release(job);
        else this.#failJob(job, err);
      }
      return;
    }
    const pool = this.#pool.agents();
    const sockets = pool.sockets;
    const views = pool.views.map((a) => ({ ...a, running: a.running + this.running(a.address) }));
    const now = Date.now();
    while (this.#queue.length > 0) {
      const job = this.#queue[0] as Job;
      if (job.stream.closed) {
        this.#queue.shift();
        this.#release(job);
        continue;
      }
      if (now >= job.deadline) {
        this.#queue.shift();
        this.#failJob(
          job,
          new BaseError("DEADLINE_EXCEEDED", "no agent took the request before its deadline"),
        );
        continue;
      }
      const needs = {
        runtime: job.descriptor.runtime,
        modelHashes: [job.descriptor.sha256],
        exclude: new Set(job.tried),
      };
      const chosen = pickAgent(views, needs);
      const ws = chosen ? sockets.get(chosen.address) : undefined;
      if (!chosen || !ws) {
        const capable = views.some(
          (a) => !needs.exclude.has(a.address) && a.runtimes.includes(needs.runtime),
        );
        if (capable) break; // all busy: a finished task pumps again
        this.#queue.shift();
        this.#failJob(
          job,
          new BaseError(
            "NO_AGENT_AVAILABLE",
            `no agent in subnet ${job.stream.subnet} can take this request now`,
            {
              details: { tried: job.tried.length },
            },
          ),
        );
        continue;
      }
      this.#queue.shift();
      chosen.running += 1;
      job.attempts += 1;
      job.agent = chosen.address;
      job.tried.push(chosen.address);
      job.taskId = `${job.requestId}:${job.attempts}`;
      const taskDeadline = Math.min(job.deadline, now + config.TASK_TIMEOUT_MS);
      this.#tasks.set(job.taskId, job);
      this.#running.set(chosen.address, this.running(chosen.address) + 1);
      job.taskDeadline = taskDeadline;
      this.#armSweep(taskDeadline);
      const list = out.get(ws) ?? [];
      out.set(ws, list);
      list.push({
        type: "task",
        kind: "tensor",
        taskId: job.taskId,
        requestId: job.requestId as never,
        subnet: job.stream.subnet as never,
        model: job.descriptor,
        price: job.price.toString() as never,
        deadline: taskDeadline,
        inputs: job.input.inputs,
        receipts: "batch",
      });
    }
    for (const [ws, tasks] of out) {
      this.#pool.send(ws, tasks.length === 1 ? (tasks[0] as TaskFrame) : { type: "tasks", tasks });
    }
  }

  /** One timer for every task's deadline (not one per task): the earliest one due. */
  #armSweep(at: number): void {
    if (this.#sweepAt !== undefined && this.#sweepAt <= at) return;
    if (this.#sweepTimer) clearTimeout(this.#sweepTimer);
    this.#sweepAt = at;
    this.#sweepTimer = setTimeout(() => this.#sweep(), Math.max(0, at - Date.now()));
  }

  #sweep(): void {
    this.#sweepAt = undefined;
    this.#sweepTimer = undefined;
    const now = Date.now();
    let next: number | undefined;
    for (const job of [...this.#tasks.values()]) {
      if (job.taskDeadline <= now) this.#taskLost(job, "AGENT_TIMEOUT", "agent missed the deadline");
      else if (next === undefined || job.taskDeadline < next) next = job.taskDeadline;
    }
    if (next !== undefined) this.#armSweep(next);
  }

  #untrack(job: Job): void {
    if (job.taskId) this.#tasks.delete(job.taskId);
    if (job.agent) {
      const n = this.running(job.agent) - 1;
      if (n > 0) this.#running.set(job.agent, n);
      else this.#running.delete(job.agent);
    }
  }

  /** The attempt on the current agent failed: try another, or fail the request. */
  #taskLost(job: Job, code: ErrorCode, message: string): void {
    if (!job.taskId || this.#tasks.get(job.taskId) !== job) return;
    this.#untrack(job);
    this.#retry(job, code, message);
    this.#pump();
  }

  #retry(job: Job, code: ErrorCode, message: string): void {
    const config = configOf(this.#env);
    job.taskId = undefined;
    job.agent = undefined;
    if (job.attempts >= config.MAX_ATTEMPTS || Date.now() >= job.deadline || job.stream.closed) {
      this.#failJob(job, new BaseError(code, `${message} (after ${job.attempts} attempts)`));
      return;
    }
    this.#queue.unshift(job);
  }

  /** An agent's error frame for one of this hub's tasks; false when the task is not ours. */
  taskFailed(agent: string, taskId: string, code: ErrorCode, message: string): boolean {
    const job = this.#tasks.get(taskId);
    if (!job || job.agent !== agent) return false;
    this.#taskLost(job, code, message);
    return true;
  }

  /** An agent's socket closed: its tasks go to other agents. */
  agentGone(agent: string, why: string): void {
    for (const job of [...this.#tasks.values()]) {
      if (job.agent === agent) {
        this.#untrack(job);
        this.#retry(job, "AGENT_TIMEOUT", `agent ${why}`);
      }
    }
    this.#pump();
  }

  /** A slot may have freed up (an agent connected, or a per-request task ended). */
  wake(): void {
    this.#pump();
  }

  // ---- results and validation ---------------------------------------------------------

  /** An agent's batch of results (always acknowledged: stale items are dropped here). */
  onResults(agent: string, ws: WebSocket, frame: ResultBatchFrame): void {
    const jobs = frame.items.map((i) => this.#tasks.get(i.taskId));
    const config = configOf(this.#env);
    const domain = ncnDomain(config.CHAIN_ID, config.PAYMENT_CONTRACT);
    let digests: `0x${string}`[];
    let tree: ReturnType<typeof merkleBatch> | undefined;
    try {
      digests = frame.items.map((i) => receiptDigest(domain, i.receipt));
      tree = merkleBatch(digests);
    } catch {
      digests = [];
    }
    this.#pool.send(ws, { type: "acks", receiptsRoot: frame.receiptsRoot });
    if (!tree || tree.root.toLowerCase() !== frame.receiptsRoot.toLowerCase()) {
      log.warn("results frame refused: root does not match its receipts", { agent });
      for (const job of jobs) {
        if (job && job.agent === agent)
          this.#taskLost(job, "SIGNATURE_INVALID", `agent ${agent} sent a malformed receipt batch`);
      }
      return;
    }
    const batch: AgentReceiptBatch = {
      agent: agent as never,
      receiptsRoot: frame.receiptsRoot,
      count: frame.items.length,
      signature: frame.signature,
    };
    const touched = new Set<string>();
    frame.items.forEach((item, i) => {
      const job = jobs[i];
      if (!job || job.agent !== agent || job.taskId !== item.taskId) return;
      this.#untrack(job);
      const problem = checkItem(job, agent, item);
      if (problem) {
        log.warn("result refused", { requestId: job.requestId, agent, problem });
        this.#retry(job, "SIGNATURE_INVALID", `agent ${agent} returned an invalid receipt: ${problem}`);
        return;
      }
      const q = this.#sessionQueue(job.stream.sessionId);
      q.pending.push({
        job,
        item,
        digest: digests[i] as `0x${string}`,
        batch,
        proof: (tree as ReturnType<typeof merkleBatch>).proof(i),
        attesters: [],
      });
      touched.add(job.stream.sessionId);
    });
    this.#pump();
    for (const s of touched) this.#flushValidation(s);
  }

  #sessionQueue(sessionId: string): SessionQueue {
    let q = this.#validation.get(sessionId);
    if (!q) {
      q = { pending: [], inflight: 0, inflightTotal: 0n };
      this.#validation.set(sessionId, q);
    }
    return q;
  }

  /** Group commit: a call goes out at once when fewer than the limit are in flight; the rest batch up. */
  #flushValidation(sessionId: string): void {
    const q = this.#sessionQueue(sessionId);
    while (q.inflight < MAX_VALIDATIONS_IN_FLIGHT && q.pending.length > 0) {
      const items = q.pending.splice(0, MAX_VALIDATION_BATCH);
      let total = 0n;
      for (const it of items) total += it.job.price;
      const chargedBefore = q.inflightTotal;
      q.inflight += 1;
      q.inflightTotal += total;
      void this.#validate(sessionId, items, chargedBefore)
        .catch((e: unknown) => {
          const err = asError(e);
          log.warn("stream validation failed", { sessionId, code: err.code, error: err.shortMessage });
          for (const it of items) this.#afterRefusal(it.job, err);
        })
        .finally(() => {
          q.inflight -= 1;
          q.inflightTotal -= total;
          if (q.pending.length > 0) this.#flushValidation(sessionId);
          else if (q.inflight === 0) this.#validation.delete(sessionId);
          this.#pump();
        });
    }
  }

  async #validate(sessionId: string, items: Validated[], inflightBefore: bigint): Promise<void> {
    const config = configOf(this.#env);
    const first = items[0] as Validated;
    const top = [...new Set(items.map((i) => i.job.stream))]
      .map((s) => s.top)
      .reduce<Stream["top"]>((best, t) => (t && (!best || t.amount > best.amount) ? t : best), undefined);
    if (!top) throw new BaseError("PAYMENT_REQUIRED", "no voucher to validate against");
    const batches: AgentReceiptBatch[] = [];
    const batchIndex = new Map<string, number>();
    for (const it of items) {
      if (!batchIndex.has(it.batch.receiptsRoot)) {
        batchIndex.set(it.batch.receiptsRoot, batches.length);
        batches.push(it.batch);
      }
    }
    const charged = BigInt(first.job.stream.standing.charged) + inflightBefore;
    const { answers, refusals, rest } = await gatherStreamValidation(
      config.REGISTRY_URLS,
      config.VALIDATION_THRESHOLD,
      {
        subnet: first.job.stream.subnet,
        session: { sessionId, cumulativeAmount: top.amount.toString(), signature: top.signature },
        chargedBefore: charged.toString(),
        agentBatches: batches,
        items: items.map((it) => ({
          requestId: it.job.requestId,
          agentBatch: batchIndex.get(it.batch.receiptsRoot) as number,
          proof: it.proof,
          price: it.job.price.toString(),
          deadline: it.job.deadline,
          input: it.job.input,
          result: it.item.result,
          receipt: it.item.receipt,
        })),
      },
      VALIDATION_TIMEOUT_MS,
      this.#validators,
    );
    if (answers.length < config.VALIDATION_THRESHOLD) {
      throw streamQuorumError(config.VALIDATION_THRESHOLD, answers.length, refusals);
    }
    const roots = new Set(answers.map((a) => a.response.receiptsRoot.toLowerCase()));
    if (roots.size > 1) {
      // Validators disagree on some items (a sampled re-execution, say): keep what all
      // accepted and validate that again; the rest go to other agents.
      const acceptedByAll = items.filter((_, i) => answers.every((a) => a.response.accepted.includes(i)));
      items.forEach((it, i) => {
        if (acceptedByAll.includes(it)) return;
        const why = answers.flatMap((a) => a.response.rejected).find((r) => r.index === i);
        this.#afterRefusal(
          it.job,
          new BaseError(codeOf(why?.code), why?.message ?? "validators disagree on this result"),
        );
      });
      if (acceptedByAll.length > 0) await this.#validate(sessionId, acceptedByAll, inflightBefore);
      return;
    }
    const response = (answers[0] as (typeof answers)[number]).response;
    for (const [i, it] of items.entries()) it.attesters = attestersOf(answers, i);
    void rest.then((late) => this.#lateAttesters(items, late)).catch(() => undefined);
    for (const r of response.rejected) {
      const it = items[r.index];
      if (it) this.#afterRefusal(it.job, new BaseError(codeOf(r.code), r.message, { details: r.details }));
    }
    const accepted = response.accepted.map((i) => items[i]).filter((x): x is Validated => x !== undefined);
    const tree = merkleBatch(response.leaves);
    const attestations = answers.map((a) => a.response.attestation);
    const byStream = new Map<Stream, Validated[]>();
    const frames = new Map<Stream, StreamResultsFrame["results"]>();
    accepted.forEach((it, k) => {
      if (it.digest.toLowerCase() !== response.leaves[k]?.toLowerCase()) {
        this.#afterRefusal(
          it.job,
          new BaseError("VALIDATION_REFUSED", "validators attested another receipt"),
        );
        return;
      }
      const s = it.job.stream;
      if (s.closed) {
        this.#release(it.job);
        return;
      }
      s.ids.delete(it.job.id);
      const results = frames.get(s) ?? [];
      frames.set(s, results);
      results.push({
        id: it.job.id,
        requestId: it.job.requestId as never,
        price: it.job.price.toString() as never,
        result: it.item.result as never,
        receipt: it.item.receipt,
        agentBatch: { batch: it.batch, proof: it.proof as never },
        proof: tree.proof(k) as never,
      });
      const list = byStream.get(s) ?? [];
      list.push(it);
      byStream.set(s, list);
    });
    for (const [s, results] of frames) {
      this.#send(s, { type: "results", receiptsRoot: response.receiptsRoot, attestations, results });
    }
    for (const [s, list] of byStream) this.#queueCharges(s, list);
  }

  /**
   * Delivered results are charged in groups (every COMMIT_DELAY_MS, or at once when many
   * wait): one Session call and one settlement insert per group, off the requests' path.
   */
  #queueCharges(stream: Stream, list: Validated[]): void {
    stream.charges.push(...list);
    if (stream.charges.length >= MAX_VALIDATION_BATCH || stream.closed) void this.#flushCharges(stream);
    else stream.chargeTimer ??= setTimeout(() => void this.#flushCharges(stream), COMMIT_DELAY_MS);
  }

  async #flushCharges(stream: Stream): Promise<void> {
    if (stream.chargeTimer) clearTimeout(stream.chargeTimer);
    stream.chargeTimer = undefined;
    if (stream.committing || stream.charges.length === 0) return;
    stream.committing = true;
    try {
      await this.#commit(stream, stream.charges.splice(0));
    } finally {
      stream.committing = false;
      if (stream.charges.length > 0) this.#queueCharges(stream, []);
    }
  }

  async #commit(stream: Stream, list: Validated[]): Promise<void> {
    try {
      const standing = unwrap(
        await this.#session(stream.sessionId).streamCommit(
          stream.sessionId,
          stream.key,
          list.map((it) => ({
            requestId: it.job.requestId,
            price: it.job.price.toString(),
            agent: it.item.receipt.agent,
            receiptDigest: it.digest,
            attesters: it.attesters,
          })),
        ),
      );
      stream.standing = standing;
      this.#send(stream, { type: "charged", total: standing.charged as never, requests: list.length });
    } catch (e) {
      // The results were delivered; failing to record the charge is the gateway's loss, not the client's.
      log.error("stream charge failed", {
        sessionId: stream.sessionId,
        error: String(e),
        requests: list.length,
      });
    }
  }

  /**
   * Validators that answered after the quorum attested these items too; settlement may ask
   * them to sign for the receipts (told by request id: the charge may not be recorded yet).
   */
  async #lateAttesters(items: readonly Validated[], late: readonly StreamAnswer[]): Promise<void> {
    if (late.length === 0) return;
    const entries = items
      .map((it, i) => ({ requestId: it.job.requestId, urls: attestersOf(late, i) }))
      .filter((e) => e.urls.length > 0);
    if (entries.length === 0) return;
    await this.#env.SETTLEMENT.get(this.#env.SETTLEMENT.idFromName("main")).attested(entries);
  }

  /** A validator refused a request: another agent if it was the agent's fault, else fail it. */
  #afterRefusal(job: Job, err: BaseError): void {
    const payment = ["PAYMENT_REQUIRED", "INSUFFICIENT_FUNDS", "PAYMENT_EXPIRED", "VALIDATOR_UNAVAILABLE"];
    if (payment.includes(err.code)) {
      this.#failJob(job, err);
      return;
    }
    this.#retry(job, err.code, err.shortMessage);
    this.#pump();
  }

  // ---- endings -------------------------------------------------------------------------

  #failJob(job: Job, err: BaseError, released = true): void {
    this.#untrack(job);
    // A request still waiting for credit never took any from the lease.
    if (released) this.#release(job);
    this.#fail(job.stream, job.id, err);
  }

  /** A request that will not be charged gives its price back to the stream's lease. */
  #release(job: Job): void {
    if (job.stream.closed)
      void this.#session(job.stream.sessionId).returnLease(job.stream.key, job.price.toString());
    else job.stream.lease += job.price;
  }

  /** Answers request `id` with its typed error (it is no longer in flight). */
  #fail(stream: Stream, id: string, e: unknown): void {
    const err = asError(e);
    stream.ids.delete(id);
    this.#send(stream, {
      type: "error",
      id,
      code: err.code,
      message: err.shortMessage,
      ...(err.details === undefined ? {} : { details: err.details }),
    });
  }

  #onClose(stream: Stream): void {
    if (stream.closed) return;
    stream.closed = true;
    // Results already delivered are charged now.
    void this.#flushCharges(stream);
    stream.waiting.length = 0;
    const back = stream.lease;
    stream.lease = 0n;
    if (back > 0n) void this.#session(stream.sessionId).returnLease(stream.key, back.toString());
    // Queued requests give their price back as the pump drops them; running ones when they end.
    for (const job of [...this.#tasks.values()]) {
      if (job.stream === stream) {
        this.#untrack(job);
        this.#release(job);
      }
    }
    this.#pump();
  }

  #send(stream: Stream, frame: StreamServerFrame): void {
    if (stream.closed) return;
    try {
      stream.ws.send(JSON.stringify(frame));
    } catch {
      this.#onClose(stream);
    }
  }

  #session(sessionId: string) {
    return this.#env.SESSION.get(this.#env.SESSION.idFromName(sessionId));
  }
}

/**
 * What the gateway checks of a batched result before spending validators' time on it:
 * only what costs no hashing of the payload (the validators hash the input, the output and
 * the ids, and refuse a receipt that does not match; the request then goes to another agent).
 */
function checkItem(job: Job, agent: string, item: BatchedResult): string | undefined {
  const mismatch = receiptMismatch(item.receipt, {
    agent,
    subnetId: idOf(job.stream.subnet),
    modelId: idOf(job.descriptor.id),
    modelHash: job.descriptor.sha256,
    price: job.price.toString(),
  });
  if (mismatch) return mismatch.message;
  if (item.result.kind !== "tensor") return "result kind does not match the task";
  return undefined;
}

const ids = new Map<string, `0x${string}`>();

/** bytes32 of a subnet or model id, cached: the same few ids recur on every request. */
function idOf(id: string): `0x${string}` {
  let h = ids.get(id);
  if (h === undefined) {
    h = idToBytes32(id);
    if (ids.size > 10_000) ids.clear();
    ids.set(id, h);
  }
  return h;
}

/** The validators (URLs) among `answers` that accepted item `i` of the validated batch. */
function attestersOf(answers: readonly StreamAnswer[], i: number): string[] {
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

function asError(e: unknown): BaseError {
  return e instanceof BaseError ? e : new BaseError("INTERNAL", e instanceof Error ? e.message : String(e));
}

function codeOf(code: string | undefined): ErrorCode {
  return (code ?? "VALIDATION_REFUSED") as ErrorCode;
}

/** 32 random bytes as hex: a stream's challenge. */
function randomBytes32(): `0x${string}` {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  let hex = "0x";
  for (const b of bytes) hex += b.toString(16).padStart(2, "0");
  return hex as `0x${string}`;
}

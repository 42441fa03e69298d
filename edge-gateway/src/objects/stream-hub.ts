import {
  type Address,
  type AgentReceiptBatch,
  BaseError,
  type BatchedResult,
  type Bytes32,
  decodeFrame,
  type ErrorCode,
  type GatewayToAgentFrame,
  type ModelDescriptor,
  merkleBatch,
  ncnDomain,
  RequestId,
  type ResultBatchFrame,
  receiptDigest,
  type StreamBatchRequest,
  StreamClientFrame,
  StreamInferFrame,
  type StreamResultsFrame,
  type StreamServerFrame,
  type SubnetId,
  type TaskFrame,
  type TaskInput,
  type TensorMapJson,
  type TensorResult,
} from "@ncn/protocol";
import * as v from "valibot";
import { fromCatalog, priceOf } from "../catalog.ts";
import { configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import { type AgentView, pickAgent } from "../logic/scheduler.ts";
import {
  errorFrame,
  newStream,
  STREAM_LIMITS,
  type StreamControl,
  type StreamEffect,
  type StreamEvent,
  type StreamStanding,
  step,
} from "../logic/stream/index.ts";
import { batchedResultProblem, refusedForTheAgent } from "../logic/stream/results.ts";
import { quorumLostError } from "../logic/validator-quorum.ts";
import { publicError } from "../public-error.ts";
import { unwrap } from "../rpc.ts";
import { knownQuorum, ValidatorQuorumWatch } from "../validators/health.ts";
import {
  askValidator,
  attestersOf,
  fitsValidatorSocket,
  gatherStreamValidation,
  type StreamAnswer,
  streamQuorumError,
  ValidatorSockets,
} from "../validators/stream.ts";

const log = logger("gateway:stream");

/** Most requests in one validation call. */
const MAX_VALIDATION_BATCH = 256;
/**
 * Validation calls of one session in flight at once; more results wait and go together. Each
 * call has a fixed cost (validators sign and store a batch, the hub journals it and the Session
 * object charges it): one at a time makes busy streams' batches larger (27 requests a call
 * against 16 with two, at 64 in flight), and costs an idle stream nothing.
 */
const MAX_VALIDATIONS_IN_FLIGHT = 1;
const VALIDATION_TIMEOUT_MS = 10_000;
/**
 * How long delivered results wait for the validators that were not asked on their path (see
 * `gatherStreamValidation`): asked in groups, a validator validates and stores many batches'
 * results in one call. A gateway that dies in this window loses the asks: those results are
 * attested by the first quorum only (settlement still signs them with that quorum).
 */
const LATE_ASK_DELAY_MS = 200;
/** How often queued work looks again while agents wait for admission. */
const PENDING_ADMISSION_POLL_MS = 250;
const DEFAULT_STREAM_TIMEOUT_MS = 30_000;
/** What the hub needs of the Subnet shard that hosts it: its agents. */
export interface AgentPool {
  /**
   * Connected, fresh agents with their sockets. `running` counts only the per-request
   * path's tasks (the hub adds its own); may be cached for a moment. `pending`: connected
   * agents not admitted yet but worth waiting for (see the shard's admission).
   */
  agents(): { views: readonly AgentView[]; sockets: Map<string, WebSocket>; pending: number };
  send(ws: WebSocket, frame: GatewayToAgentFrame): void;
}

/** A delivered result's charge, as the hub's journal keeps it until the Session object recorded it. */
export interface JournalCharge {
  /** Delivery number on the stream (1, 2, ...): the Session object charges each number once. */
  seq: number;
  requestId: string;
  price: string;
  agent: `0x${string}`;
  receiptDigest: `0x${string}`;
  attesters: string[];
}

/**
 * Durable notes of what the hub's streams owe (the Subnet shard's storage): results are
 * written here before they are sent, so a gateway that dies before charging them charges
 * them when it starts again, and a stream's lease goes back even if its socket died with
 * the process.
 */
export interface DeliveryJournal {
  /** A stream took credit from its session. */
  opened(streamKey: string, sessionId: `0x${string}`): void;
  /** Results about to be sent on the stream: kept until charged. */
  delivered(streamKey: string, charges: readonly JournalCharge[]): void;
  /** The Session object recorded the stream's charges up to `seq`. */
  charged(streamKey: string, seq: number): void;
  /** The stream ended: all it delivered is charged and its lease went back. */
  ended(streamKey: string): void;
}

interface Stream {
  key: string;
  ws: WebSocket;
  sessionId: Bytes32;
  subnet: SubnetId;
  /** The stream's rules state (`logic/stream`): challenge, frame limits, lease, requests waiting for credit. */
  control: StreamControl<Job>;
  /** Client ids in flight (an id may be reused once its answer was sent). */
  ids: Set<string>;
  /** The challenge answer and then each voucher, checked in the order they arrived. */
  checks: Promise<void>;
  /** Delivered results not yet charged (see `#queueCharges`). */
  charges: Validated[];
  chargeTimer: ReturnType<typeof setTimeout> | undefined;
  committing: boolean;
  /** Results delivered so far (the last delivery number). */
  delivered: number;
  /** The journal knows the stream (it took credit). */
  journaled: boolean;
  ended: boolean;
}

interface Job {
  stream: Stream;
  id: string;
  requestId: RequestId;
  price: bigint;
  descriptor: ModelDescriptor;
  input: TaskInput & { kind: "tensor" };
  deadline: number;
  /** Until when it waits for a capable agent to connect (agents reconnecting after a restart, say). */
  noAgentUntil: number;
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
  /** The item's result, known to be a tensor result (what a stream request asks for). */
  result: TensorResult;
  digest: `0x${string}`;
  batch: AgentReceiptBatch;
  proof: Bytes32[];
  /** Validators (URLs) that attested it: settlement asks them to sign for it. */
  attesters: string[];
  /** Its delivery number on the stream, once delivered. */
  seq: number;
  /** Its charge went to the Session object (later attesters go to settlement on their own). */
  committed: boolean;
}

/** Delivered results of one session a validator was not asked about yet (see `#askLater`). */
interface LateAsk {
  sessionId: `0x${string}`;
  url: string;
  items: Validated[];
  /** What was charged to the session before the first of them. */
  chargedBefore: bigint;
  timer: ReturnType<typeof setTimeout> | undefined;
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
  readonly #journal: DeliveryJournal;
  readonly #queue: Job[] = [];
  readonly #tasks = new Map<string, Job>();
  readonly #running = new Map<string, number>();
  readonly #validation = new Map<string, SessionQueue>();
  /** Delivered results waiting to be shown to a validator not asked on their path, by session and validator. */
  readonly #lateAsks = new Map<string, LateAsk>();
  #seq = 0;
  #pumpQueued = false;
  readonly #validators = new ValidatorSockets();
  readonly #quorum = new ValidatorQuorumWatch();
  #sweepAt: number | undefined;
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #pumpTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(env: Env, pool: AgentPool, journal: DeliveryJournal) {
    this.#env = env;
    this.#pool = pool;
    this.#journal = journal;
  }

  /** Tasks this hub has on each agent (added to the shard's own reservations). */
  running(agent: string): number {
    return this.#running.get(agent) ?? 0;
  }

  /** Accepts a client's stream socket (the worker checked the path and query). */
  accept(sessionId: Bytes32, subnet: SubnetId): Response {
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    server.accept();
    const stream: Stream = {
      key: crypto.randomUUID(),
      ws: server,
      sessionId,
      subnet,
      control: newStream(sessionId, subnet, randomBytes32()),
      ids: new Set(),
      checks: Promise.resolve(),
      charges: [],
      chargeTimer: undefined,
      committing: false,
      delivered: 0,
      journaled: false,
      ended: false,
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
      this.#apply(stream, { type: "closed" });
    });
    server.addEventListener("error", () => this.#apply(stream, { type: "closed" }));
    this.#apply(stream, { type: "open" });
    return new Response(null, { status: 101, webSocket: client });
  }

  // ---- client frames ---------------------------------------------------------------

  #onMessage(stream: Stream, data: string | ArrayBuffer): void {
    if (isClosed(stream)) return;
    const decoded = decodeFrame(StreamClientFrame, data, configOf(this.#env).MAX_BODY_BYTES);
    if (!decoded.ok) {
      const id = decoded.error.field("id", StreamInferFrame.entries.id);
      this.#send(stream, {
        type: "error",
        ...(id === undefined ? {} : { id }),
        code: "INVALID_INPUT",
        message: decoded.error.shortMessage,
      });
      return;
    }
    const frame = decoded.frame;
    this.#apply(stream, { type: "frame", frame });
    if (isClosed(stream)) return;
    if (frame.type === "many") for (const f of frame.frames) this.#onRequest(stream, f);
    else if (frame.type === "infer") this.#onRequest(stream, frame);
  }

  #onRequest(stream: Stream, frame: StreamInferFrame): void {
    this.#apply(stream, {
      type: "infer",
      frame,
      duplicate: stream.ids.has(frame.id),
      inFlight: stream.ids.size,
    });
  }

  // ---- the stream's rules and their effects -----------------------------------------

  /** Steps the stream's rules with `event` and carries out the effects; resolves when its checks are done. */
  #apply(stream: Stream, event: StreamEvent<Job>): Promise<void> | undefined {
    const { state, effects } = step(stream.control, event, Date.now(), STREAM_LIMITS);
    stream.control = state;
    let checking: Promise<void> | undefined;
    for (const effect of effects) {
      const done = this.#run(stream, effect);
      if (done) checking = checking ? checking.then(() => done) : done;
    }
    return checking;
  }

  #run(stream: Stream, effect: StreamEffect<Job>): Promise<void> | undefined {
    switch (effect.type) {
      case "send":
        this.#write(stream, effect.frame);
        return;
      case "close":
        try {
          stream.ws.close(effect.code, effect.reason);
        } catch {}
        return;
      case "queueAuth":
        stream.checks = stream.checks.then(() =>
          this.#apply(stream, { type: "authTurn", signature: effect.signature }),
        );
        return;
      case "queueVoucher":
        stream.checks = stream.checks.then(() =>
          this.#apply(stream, { type: "voucherTurn", amount: effect.amount, signature: effect.signature }),
        );
        return;
      case "verifyAuth":
        return this.#session(stream.sessionId)
          .streamAuth(stream.sessionId, stream.control.nonce, effect.signature)
          .then((r) => {
            const standing = unwrap(r);
            this.#apply(stream, { type: "authorised", standing });
          })
          .catch(
            (e: unknown) =>
              void this.#apply(stream, { type: "authRefused", error: publicError(e, { where: "stream" }) }),
          );
      case "verifyVoucher": {
        const voucher = { amount: effect.amount, signature: effect.signature };
        return this.#session(stream.sessionId)
          .voucher(stream.sessionId, effect.amount.toString(), effect.signature)
          .then((r) => {
            const standing = unwrap(r);
            this.#apply(stream, { type: "voucherAccepted", voucher, standing });
          })
          .catch(
            (e: unknown) =>
              void this.#apply(stream, {
                type: "voucherRefused",
                error: publicError(e, { where: "stream" }),
              }),
          );
      }
      case "defer":
        void stream.checks.then(() => this.#onRequest(stream, effect.frame));
        return;
      case "admit": {
        const frame = effect.frame;
        stream.ids.add(frame.id);
        void this.#onInfer(stream, frame).catch((e: unknown) => this.#fail(stream, frame.id, e));
        return;
      }
      case "run":
        this.#queue.push(effect.request);
        this.#pump();
        return;
      case "lease":
        this.#lease(stream, effect.want);
        return;
      case "returnLease":
        void this.#session(stream.sessionId).returnLease(stream.key, effect.amount.toString());
        return;
      case "refuse":
        for (const job of effect.requests) this.#failJob(job, effect.error, false);
        return;
      case "windDown":
        // Results already delivered are charged now.
        void this.#flushCharges(stream);
        // Queued requests give their price back as the pump drops them; running ones now.
        for (const job of [...this.#tasks.values()]) {
          if (job.stream === stream) {
            this.#untrack(job);
            this.#release(job);
          }
        }
        this.#pump();
        return;
    }
  }

  /** Leases more credit from the Session object (the rules allow one call at a time per stream). */
  #lease(stream: Stream, want: bigint): void {
    if (!stream.journaled) {
      stream.journaled = true;
      this.#journal.opened(stream.key, stream.sessionId);
    }
    void this.#session(stream.sessionId)
      .lease(stream.sessionId, stream.key, want.toString())
      .then(
        (r) => {
          let got: StreamStanding & { granted: string };
          try {
            got = unwrap(r);
          } catch (e) {
            this.#apply(stream, { type: "leaseFailed", error: publicError(e, { where: "stream" }) });
            return;
          }
          this.#apply(stream, { type: "leased", granted: BigInt(got.granted), standing: got });
        },
        (e: unknown) =>
          void this.#apply(stream, { type: "leaseFailed", error: publicError(e, { where: "stream" }) }),
      );
  }

  /** An admitted request: priced from the catalog, then spent from the lease or left waiting for credit. */
  async #onInfer(stream: Stream, frame: StreamInferFrame): Promise<void> {
    const config = configOf(this.#env);
    // Without a quorum the work would be computed and then refused: do not start it.
    await this.#quorum.require(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD);
    // In a Durable Object a refresh simply runs on after the answer.
    const { descriptor, price } = await fromCatalog(
      config.REGISTRY_URLS,
      (c) => priceOf(c, stream.subnet, frame.model),
      (refresh) => void refresh,
    );
    if (descriptor.runtime !== "onnx") {
      throw new BaseError("INVALID_INPUT", `model ${frame.model} does not take tensor inputs`);
    }
    const input = { kind: "tensor" as const, model: frame.model, inputs: frame.inputs as TensorMapJson };
    const now = Date.now();
    const job: Job = {
      stream,
      id: frame.id,
      requestId: v.parse(
        RequestId,
        `s${now.toString(36)}${(this.#seq++).toString(36)}${stream.key.slice(0, 8)}`,
      ),
      price,
      descriptor,
      input,
      deadline: now + (frame.timeoutMs ?? DEFAULT_STREAM_TIMEOUT_MS),
      noAgentUntil: now + configOf(this.#env).NO_AGENT_WAIT_MS,
      attempts: 0,
      tried: [],
      taskId: undefined,
      agent: undefined,
      taskDeadline: 0,
    };
    this.#apply(stream, { type: "priced", request: job });
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
        if (isClosed(job.stream)) this.#release(job);
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
      if (isClosed(job.stream)) {
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
        if (pool.pending > 0 || now < Math.min(job.noAgentUntil, job.deadline)) {
          // Agents about to be admitted, or a moment for one to connect (as the per-request
          // path waits NO_AGENT_WAIT_MS): an admission pumps again, and so does this timer
          // (the queue's deadlines still hold while they wait).
          this.#pumpLater(PENDING_ADMISSION_POLL_MS);
          break;
        }
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
        requestId: job.requestId,
        subnet: job.stream.subnet,
        model: job.descriptor,
        price: job.price.toString(),
        deadline: taskDeadline,
        inputs: job.input.inputs,
        receipts: "batch",
      });
    }
    for (const [ws, tasks] of out) {
      this.#pool.send(ws, tasks.length === 1 ? (tasks[0] as TaskFrame) : { type: "tasks", tasks });
    }
  }

  #pumpLater(ms: number): void {
    if (this.#pumpTimer) return;
    this.#pumpTimer = setTimeout(() => {
      this.#pumpTimer = undefined;
      this.#pump();
    }, ms);
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
    if (job.attempts >= config.MAX_ATTEMPTS || Date.now() >= job.deadline || isClosed(job.stream)) {
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
  onResults(agent: Address, ws: WebSocket, frame: ResultBatchFrame): void {
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
      agent,
      receiptsRoot: frame.receiptsRoot,
      count: frame.items.length,
      signature: frame.signature,
    };
    const touched = new Set<string>();
    frame.items.forEach((item, i) => {
      const job = jobs[i];
      if (!job || job.agent !== agent || job.taskId !== item.taskId) return;
      this.#untrack(job);
      const problem = batchedResultProblem(job.stream.subnet, job.descriptor, job.price, agent, item);
      if (problem) {
        log.warn("result refused", { requestId: job.requestId, agent, problem });
        this.#retry(job, "SIGNATURE_INVALID", `agent ${agent} returned an invalid receipt: ${problem}`);
        return;
      }
      const { result } = item;
      if (result.kind !== "tensor") {
        log.warn("result refused", { requestId: job.requestId, agent, problem: "not a tensor result" });
        this.#retry(
          job,
          "INFERENCE_FAILED",
          `agent ${agent} returned a ${result.kind} result to a tensor request`,
        );
        return;
      }
      const q = this.#sessionQueue(job.stream.sessionId);
      q.pending.push({
        job,
        item,
        result,
        digest: digests[i] as `0x${string}`,
        batch,
        proof: (tree as ReturnType<typeof merkleBatch>).proof(i),
        attesters: [],
        seq: 0,
        committed: false,
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
          const err = publicError(e, { where: "stream" });
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
    const charged = BigInt(first.job.stream.control.standing.charged) + inflightBefore;
    const { answers, refusals, rest, unasked } = await gatherStreamValidation(
      config.REGISTRY_URLS,
      config.VALIDATION_THRESHOLD,
      streamBatchBody(sessionId, items, charged),
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
      if (isClosed(s)) {
        this.#release(it.job);
        return;
      }
      s.ids.delete(it.job.id);
      s.delivered += 1;
      it.seq = s.delivered;
      const results = frames.get(s) ?? [];
      frames.set(s, results);
      results.push({
        id: it.job.id,
        requestId: it.job.requestId,
        price: it.job.price.toString(),
        result: it.result,
        receipt: it.item.receipt,
        agentBatch: { batch: it.batch, proof: it.proof },
        proof: tree.proof(k),
      });
      const list = byStream.get(s) ?? [];
      list.push(it);
      byStream.set(s, list);
    });
    // Written before the results leave: if the gateway dies before charging them, it charges them on restart.
    for (const [s, list] of byStream) this.#journal.delivered(s.key, list.map(journalCharge));
    for (const [s, results] of frames) {
      this.#send(s, { type: "results", receiptsRoot: response.receiptsRoot, attestations, results });
    }
    for (const [s, list] of byStream) this.#queueCharges(s, list);
    const delivered = items.filter((it) => it.seq > 0);
    if (delivered.length > 0) for (const url of unasked) this.#askLater(sessionId, url, delivered, charged);
  }

  /**
   * Shows delivered results to a validator that was not asked on their path, together with
   * what else it missed of the session within LATE_ASK_DELAY_MS (at once when a batch is full;
   * never more than MAX_VALIDATION_BATCH results in one call).
   */
  #askLater(sessionId: string, url: string, items: readonly Validated[], chargedBefore: bigint): void {
    const key = `${sessionId} ${url}`;
    let ask = this.#lateAsks.get(key);
    if (ask && ask.items.length + items.length > MAX_VALIDATION_BATCH) {
      this.#flushLateAsk(key, ask);
      ask = undefined;
    }
    if (!ask) {
      ask = { sessionId: sessionId as `0x${string}`, url, items: [], chargedBefore, timer: undefined };
      this.#lateAsks.set(key, ask);
    }
    const due = ask;
    due.items.push(...items);
    if (due.items.length >= MAX_VALIDATION_BATCH) this.#flushLateAsk(key, due);
    else due.timer ??= setTimeout(() => this.#flushLateAsk(key, due), LATE_ASK_DELAY_MS);
  }

  #flushLateAsk(key: string, ask: LateAsk): void {
    if (ask.timer) clearTimeout(ask.timer);
    if (this.#lateAsks.get(key) === ask) this.#lateAsks.delete(key);
    const items = ask.items;
    let payload: string;
    try {
      payload = JSON.stringify(streamBatchBody(ask.sessionId, items, ask.chargedBefore));
    } catch {
      return; // no voucher to show: the first quorum's attestations are all there is
    }
    void askValidator(ask.url, payload, fitsValidatorSocket(payload), VALIDATION_TIMEOUT_MS, this.#validators)
      .then((r) => ("response" in r ? this.#lateAttesters(items, [r]) : undefined))
      .catch(() => undefined);
  }

  /**
   * Delivered results are charged in groups (every STREAM_COMMIT_DELAY_MS, or at once when many
   * wait): one Session call and one settlement insert per group, off the requests' path.
   */
  #queueCharges(stream: Stream, list: Validated[]): void {
    stream.charges.push(...list);
    if (stream.charges.length >= MAX_VALIDATION_BATCH || isClosed(stream)) void this.#flushCharges(stream);
    else
      stream.chargeTimer ??= setTimeout(
        () => void this.#flushCharges(stream),
        configOf(this.#env).STREAM_COMMIT_DELAY_MS,
      );
  }

  async #flushCharges(stream: Stream): Promise<void> {
    if (stream.chargeTimer) clearTimeout(stream.chargeTimer);
    stream.chargeTimer = undefined;
    if (stream.committing) return;
    if (stream.charges.length === 0) {
      this.#endIfDone(stream);
      return;
    }
    stream.committing = true;
    try {
      await this.#commit(stream, stream.charges.splice(0));
    } finally {
      stream.committing = false;
      if (stream.charges.length > 0) this.#queueCharges(stream, []);
      else this.#endIfDone(stream);
    }
  }

  /** A closed stream with nothing left to charge: the rest of its lease goes back, the journal forgets it. */
  #endIfDone(stream: Stream): void {
    if (!isClosed(stream) || stream.ended || stream.committing || stream.charges.length > 0) return;
    stream.ended = true;
    if (!stream.journaled) return;
    void this.#session(stream.sessionId)
      .endStream(stream.key)
      .then(() => this.#journal.ended(stream.key))
      .catch((e: unknown) =>
        log.warn("stream end not recorded", { sessionId: stream.sessionId, error: String(e) }),
      );
  }

  async #commit(stream: Stream, list: Validated[]): Promise<void> {
    for (const it of list) it.committed = true;
    try {
      const standing = unwrap(
        await this.#session(stream.sessionId).streamCommit(
          stream.sessionId,
          stream.key,
          list.map(journalCharge),
        ),
      );
      this.#journal.charged(stream.key, Math.max(...list.map((it) => it.seq)));
      this.#apply(stream, { type: "charged", standing, requests: list.length });
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
   * them to sign for the receipts. A delivered result not charged yet (charges wait
   * STREAM_COMMIT_DELAY_MS, the late answer mostly a millisecond) takes them along with its
   * charge: no call of their own. The others are told by request id. If the gateway dies
   * first, its journal replays the charges with the first quorum only, and settlement asks
   * any validator once those wait long enough (`withStaleAttestersUnknown`).
   */
  async #lateAttesters(items: readonly Validated[], late: readonly StreamAnswer[]): Promise<void> {
    if (late.length === 0) return;
    const entries: { requestId: string; urls: string[] }[] = [];
    items.forEach((it, i) => {
      if (it.seq === 0) return; // not delivered: never charged
      const urls = attestersOf(late, i);
      if (urls.length === 0) return;
      if (it.committed) {
        entries.push({ requestId: it.job.requestId, urls });
        return;
      }
      for (const url of urls) if (!it.attesters.includes(url)) it.attesters.push(url);
    });
    if (entries.length === 0) return;
    await this.#env.SETTLEMENT.get(this.#env.SETTLEMENT.idFromName("main")).attested(entries);
  }

  /** A validator refused a request: another agent if it was the agent's fault, else fail it. */
  #afterRefusal(job: Job, err: BaseError): void {
    if (!refusedForTheAgent(err.code)) {
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
    this.#apply(job.stream, { type: "released", price: job.price });
  }

  /** Answers request `id` with its typed error (it is no longer in flight). */
  #fail(stream: Stream, id: string, e: unknown): void {
    stream.ids.delete(id);
    this.#send(stream, errorFrame(publicError(e, { where: "stream" }), id));
  }

  #send(stream: Stream, frame: StreamServerFrame): void {
    if (!isClosed(stream)) this.#write(stream, frame);
  }

  #write(stream: Stream, frame: StreamServerFrame): void {
    try {
      stream.ws.send(JSON.stringify(frame));
    } catch {
      this.#apply(stream, { type: "closed" });
    }
  }

  #session(sessionId: string) {
    return this.#env.SESSION.get(this.#env.SESSION.idFromName(sessionId));
  }
}

/**
 * The validation request for a session's results: the highest voucher of their streams, what
 * was charged before them, and each agent batch once.
 */
function streamBatchBody(
  sessionId: string,
  items: readonly Validated[],
  chargedBefore: bigint,
): v.InferInput<typeof StreamBatchRequest> {
  const first = items[0] as Validated;
  const top = [...new Set(items.map((i) => i.job.stream))]
    .map((s) => s.control.top)
    .reduce<StreamControl["top"]>(
      (best, t) => (t && (!best || t.amount > best.amount) ? t : best),
      undefined,
    );
  if (!top) throw new BaseError("PAYMENT_REQUIRED", "no voucher to validate against");
  const batches: AgentReceiptBatch[] = [];
  const batchIndex = new Map<string, number>();
  for (const it of items) {
    if (!batchIndex.has(it.batch.receiptsRoot)) {
      batchIndex.set(it.batch.receiptsRoot, batches.length);
      batches.push(it.batch);
    }
  }
  return {
    subnet: first.job.stream.subnet,
    session: { sessionId, cumulativeAmount: top.amount.toString(), signature: top.signature },
    chargedBefore: chargedBefore.toString(),
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
  };
}

function journalCharge(it: Validated): JournalCharge {
  return {
    seq: it.seq,
    requestId: it.job.requestId,
    price: it.job.price.toString(),
    agent: it.item.receipt.agent,
    receiptDigest: it.digest,
    attesters: it.attesters,
  };
}

function isClosed(stream: Stream): boolean {
  return stream.control.phase === "closed";
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

import { chmodSync, mkdirSync, statSync } from "node:fs";
import { join } from "node:path";
import {
  AGENT_LIMITS,
  type Capabilities,
  type ErrorCode,
  type Load,
  type ModelRuntime,
  type NcnDomain,
  type ResultFrame,
  type TaskFrame,
  type TokenDelta,
  taskCharge,
  useFastKeccak,
} from "@ncn/protocol";
import { isPublishedDevKey } from "@ncn/protocol/devnet-keys";
import {
  cpuLoad,
  EXECUTABLE_RUNTIMES,
  ModelStore,
  machineInfo,
  type ProgressListener,
  setNativeLibDir,
  TaskExecutor,
} from "@ncn/runtime";
import { type Logger, silentLogger } from "@ncn/runtime/logger";
import { OnnxRuntime } from "@ncn/runtime/onnx";
import * as v from "valibot";
import type { PrivateKeyAccount } from "viem/accounts";
import { type AgentConfig, isLoopbackHost } from "./config/config.ts";
import { AgentError, ConfigError, describeError } from "./errors.ts";
import { loadIdentity } from "./identity/identity.ts";
import { admitTask } from "./link/admission.ts";
import type { BackoffOptions } from "./link/backoff.ts";
import { GatewayLink } from "./link/gateway-link.ts";
import { Outbox } from "./link/outbox.ts";
import { type BatchItem, ReceiptBatcher } from "./link/receipt-batcher.ts";
import { TaskRunner } from "./link/task-runner.ts";
import { TokenStream } from "./link/token-stream.ts";
import { buildReceipt, type ReceiptFields, signReceipt } from "./receipt/sign-receipt.ts";
import { Registrar } from "./registry/registrar.ts";
import { AGENT_VERSION } from "./version.ts";
import { addServedTally } from "./wallet/earnings.ts";

export interface AgentOptions {
  log?: Logger;
  /** Download progress of models (bar or JSON lines). */
  onDownloadProgress?: ProgressListener;
  backoff?: BackoffOptions;
  /** Extra time past a task's deadline before it is abandoned (ms). */
  deadlineGraceMs?: number;
  /** Batch-mode receipts: flush once this many results wait (default 256). */
  batchMaxItems?: number;
  /** Batch-mode receipts: flush this long after the first waiting result (ms, default 5). */
  batchMaxWaitMs?: number;
  /** Overrides `config.outboxMaxBytes` (tests that fill the outbox with a few results). */
  outboxMaxBytes?: number;
}

/** Paths inside the data folder. */
export function dataPaths(dataDir: string) {
  return {
    models: join(dataDir, "models"),
    outbox: join(dataDir, "outbox"),
    native: join(dataDir, "native"),
    sandbox: join(dataDir, "sandbox"),
    /** Private and always empty: the working directory, and where onnxruntime looks for external data. */
    empty: join(dataDir, "empty"),
  };
}

/** What the gateway's `GET /v1/subnets` answers, as far as the agent reads it. */
const SubnetCatalog = v.object({ subnets: v.array(v.object({ id: v.string() })) });

/** How often the agent logs what it served. */
const SUMMARY_MS = 60_000;
/** How often what it served is added to the data folder's tally. */
const TALLY_MS = 5_000;
/** How long tasks aborted at stop get to send their errors before the links close. */
const HAND_BACK_MS = 300;

/**
 * Creates the data folder mode 0700, or tightens it: the key, the results waiting for the
 * gateway and the libraries the executable loads live there.
 */
function privateDataDir(dataDir: string, log: Logger): void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const mode = statSync(dataDir).mode & 0o777;
  if (mode & 0o077) {
    chmodSync(dataDir, 0o700);
    log.warn("data folder was open to others; mode set to 0700", { path: dataDir, mode: mode.toString(8) });
  }
}

/**
 * The compute agent: its key, model store, ONNX runtime and task executor, and one
 * gateway link per subnet. Results are signed, kept in the outbox until acknowledged,
 * and offered again after a reconnect.
 *
 * @example
 * const agent = await Agent.create(loadConfig({}, process.env, { require: ["gateway", "subnets"] }));
 * agent.start();
 */
export class Agent {
  readonly config: AgentConfig;
  readonly account: PrivateKeyAccount;
  readonly store: ModelStore;
  readonly runtime: OnnxRuntime;
  readonly executor: TaskExecutor;
  readonly outbox: Outbox;
  readonly runner: TaskRunner;
  /** Collects batch-mode results and signs them in `results` frames. */
  readonly batcher: ReceiptBatcher;
  readonly links = new Map<string, GatewayLink>();
  readonly #o: AgentOptions;
  readonly #log: Logger;
  readonly #runtimes: ModelRuntime[];
  #evictTimer: ReturnType<typeof setInterval> | undefined;
  readonly #subnetsChecked = new Set<string>();
  /** Set by `stop`: new tasks are refused. */
  #stopping = false;
  /** Tasks whose signed results went out, and the prices their receipts charge (base units). */
  readonly served = { tasks: 0, charged: 0n, since: Date.now() };
  #tallyTimer: ReturnType<typeof setInterval> | undefined;
  #tallyMark = { tasks: 0, charged: 0n };
  #summaryMark = { tasks: 0, charged: 0n, at: Date.now() };
  #summaryAt = Date.now();
  /** Batch-mode tasks accepted and not finished (queued or running). */
  #batchWork = 0;

  private constructor(
    config: AgentConfig,
    parts: { account: PrivateKeyAccount; store: ModelStore; runtime: OnnxRuntime; outbox: Outbox },
    options: AgentOptions,
  ) {
    this.config = config;
    this.account = parts.account;
    this.store = parts.store;
    this.runtime = parts.runtime;
    this.outbox = parts.outbox;
    this.#o = options;
    this.#log = (options.log ?? silentLogger).child({ component: "agent", agent: parts.account.address });
    this.executor = new TaskExecutor({ store: parts.store, runtime: parts.runtime, log: this.#log });
    this.runner = new TaskRunner(config.maxConcurrency);
    this.batcher = new ReceiptBatcher({
      account: parts.account,
      busy: () => this.#batchWork > 0,
      deliver: async (subnet, frame) => {
        await this.outbox.putBatch(subnet, frame);
        const sent = this.#send(subnet, frame);
        let charged = 0n;
        for (const item of frame.items) charged += BigInt(item.receipt.price);
        this.#served(frame.items.length, charged);
        this.#log.info("results sent", {
          subnet,
          tasks: frame.items.length,
          charged: charged.toString(),
          sent,
        });
      },
      onError: (subnet, taskIds, error) => {
        const { message } = describeError(error);
        for (const taskId of taskIds)
          this.#send(subnet, { type: "error", taskId, code: "INTERNAL", message: message.slice(0, 2000) });
      },
      log: this.#log,
      ...(options.batchMaxItems === undefined ? {} : { maxItems: options.batchMaxItems }),
      ...(options.batchMaxWaitMs === undefined ? {} : { maxWaitMs: options.batchMaxWaitMs }),
    });
    // What the executor runs, nothing more: a model of another runtime sent here would only fail.
    this.#runtimes = [...EXECUTABLE_RUNTIMES];
  }

  static async create(config: AgentConfig, options: AgentOptions = {}): Promise<Agent> {
    const log = options.log ?? silentLogger;
    // Receipts hash every input and output: the WebAssembly keccak is about 9x faster than
    // the JavaScript one on a 1 MB tensor (6.6 ms against 58). The executable turns it on at
    // start too; here it also holds for an agent embedded in another program (the bench).
    await useFastKeccak();
    const paths = dataPaths(config.dataDir);
    privateDataDir(config.dataDir, log);
    setNativeLibDir(paths.native);
    const identity = loadIdentity(config.dataDir, config.privateKey, log, config.privateKeyFile);
    if (
      config.gateway &&
      !isLoopbackHost(new URL(config.gateway).hostname) &&
      isPublishedDevKey(identity.account.address)
    ) {
      throw new ConfigError([
        `the agent key (${identity.account.address}) is a published development key; use your own key with a gateway that is not on this machine`,
      ]);
    }
    const store = await ModelStore.open({
      dir: paths.models,
      maxBytes: config.cacheMaxBytes,
      ttlMs: config.cacheTtlMs,
      sources: config.sources,
      maxModelBytes: config.maxModelBytes,
      log,
      ...(options.onDownloadProgress ? { onProgress: options.onDownloadProgress } : {}),
    });
    const runtime = await OnnxRuntime.create({
      executionProvider: config.executionProvider,
      threads: config.threads,
      graphOptimization: config.graphOptimization,
      poolSize: config.sessionPool,
      maxRunMs: config.maxRunMs,
      maxOutputBytes: config.maxOutputBytes,
      maxMemoryBytes: config.maxModelMemoryBytes,
      capMemoryOnGpu: config.modelMemorySet,
      privateDir: paths.empty,
      log,
    });
    const outbox = await Outbox.open(paths.outbox, log);
    return new Agent(config, { account: identity.account, store, runtime, outbox }, options);
  }

  get address(): `0x${string}` {
    return this.account.address;
  }

  capabilities(): Capabilities {
    const m = machineInfo();
    return {
      cores: m.cores,
      memoryMb: m.memoryMb,
      gpu: this.runtime.choice.gpu,
      runtimes: this.#runtimes,
      cachedModels: this.store.cachedHashes(AGENT_LIMITS.cachedModels),
      maxConcurrency: this.config.maxConcurrency,
      version: AGENT_VERSION,
    };
  }

  load(): Load {
    return {
      running: this.runner.running,
      queued: this.runner.queued,
      cpu: cpuLoad(),
      memoryFreeMb: machineInfo().memoryFreeMb,
    };
  }

  #registrarInstance: Registrar | undefined;

  /** Publishes this agent's record and heartbeats to the validators (created on first welcome). */
  #registrar(gateway: string): Registrar {
    this.#registrarInstance ??= new Registrar({
      account: this.account,
      subnets: this.config.subnets,
      capabilities: () => this.capabilities(),
      load: () => this.load(),
      gateway,
      log: this.#log,
    });
    return this.#registrarInstance;
  }

  /** Connects to the gateway (one link per subnet). */
  start(): void {
    const gateway = this.config.gateway;
    if (!gateway) throw new Error("no gateway configured");
    this.#tallyTimer ??= setInterval(() => this.#tally(), TALLY_MS);
    this.#tallyTimer.unref?.();
    for (const subnet of this.config.subnets) {
      if (this.links.has(subnet)) continue;
      const link = new GatewayLink({
        gateway,
        subnet,
        account: this.account,
        log: this.#log,
        ...(this.#o.backoff ? { backoff: this.#o.backoff } : {}),
        ...(this.config.pinnedDomain ? { pinnedDomain: this.config.pinnedDomain } : {}),
        handlers: {
          capabilities: () => this.capabilities(),
          heartbeat: () => ({
            load: this.load(),
            cachedModels: this.store.cachedHashes(AGENT_LIMITS.cachedModels),
          }),
          pending: (s) => this.outbox.pending(s),
          onReady: (l) => {
            this.#resend(l);
            void this.#checkSubnet(gateway, l.subnet);
            if (l.registries.length > 0) {
              void this.#registrar(gateway)
                .use(l.registries)
                .catch((e: unknown) => this.#log.warn("registry publish failed", { error: e }));
            }
          },
          onTask: (l, task) => this.#onTask(l, task),
          onCancel: (_l, taskId, reason) => {
            if (this.runner.cancel(taskId, reason)) this.#log.info("task cancelled", { taskId, reason });
          },
          onAck: (_l, taskId) => {
            void this.outbox
              .ack(taskId)
              .catch((e: unknown) => this.#log.warn("outbox ack failed", { taskId, error: e }));
          },
          onAckBatch: (_l, receiptsRoot) => {
            void this.outbox
              .ackBatch(receiptsRoot)
              .catch((e: unknown) => this.#log.warn("outbox ack failed", { receiptsRoot, error: e }));
          },
        },
      });
      this.links.set(subnet, link);
      link.start();
    }
    this.#evictTimer = setInterval(() => {
      void this.store.evict().catch((e: unknown) => this.#log.warn("eviction failed", { error: e }));
    }, 3_600_000);
    this.#evictTimer.unref?.();
    void this.store.evict();
  }

  /** Resolves when every link is authenticated. */
  async waitReady(timeoutMs = 10_000): Promise<void> {
    await Promise.all([...this.links.values()].map((l) => l.waitReady(timeoutMs)));
  }

  /**
   * Stops taking tasks (new ones are refused as UNAVAILABLE, so the gateway sends them
   * elsewhere), lets running ones finish for `drainMs` (their results land in the outbox),
   * hands back the rest the same way (aborted, an UNAVAILABLE error each), closes the links
   * and releases the runtime.
   */
  async stop(drainMs = 10_000): Promise<void> {
    this.#stopping = true;
    if (this.#tallyTimer) clearInterval(this.#tallyTimer);
    if (this.#evictTimer) clearInterval(this.#evictTimer);
    this.#registrarInstance?.stop();
    const within = async (ms: number) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([this.runner.idle(), new Promise((r) => (timer = setTimeout(r, ms)))]);
      clearTimeout(timer);
    };
    await within(drainMs);
    const handedBack = this.runner.abortAll(
      new AgentError("UNAVAILABLE", "the agent is stopping; the task goes to another agent"),
    );
    if (handedBack > 0) {
      this.#log.info("tasks handed back", { tasks: handedBack });
      // Their error frames go out while the links are still open.
      await within(HAND_BACK_MS);
    }
    // Batch-mode results still waiting are signed and stored (and sent while connected).
    await this.batcher.flushAll();
    this.#tally(true);
    await Promise.all([...this.links.values()].map((l) => l.stop()));
    this.links.clear();
    this.outbox.close();
    await this.store.close();
    await this.runtime.close();
  }

  /**
   * Warns, once per subnet, when the gateway's catalog does not list a subnet this agent
   * serves: the connection is accepted, but no task comes until the subnet is registered.
   */
  async #checkSubnet(gateway: string, subnet: string): Promise<void> {
    if (this.#subnetsChecked.has(subnet)) return;
    this.#subnetsChecked.add(subnet);
    try {
      const url = new URL("/v1/subnets", gateway.replace(/^ws/, "http"));
      const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      const parsed = v.safeParse(SubnetCatalog, await res.json());
      if (!parsed.success) return;
      const body = parsed.output;
      if (body.subnets.some((s) => s.id === subnet)) return;
      this.#log.warn("unknown subnet", {
        subnet,
        known: body.subnets.map((s) => s.id).slice(0, 20),
        hint: "the gateway's catalog has no such subnet: no task comes for it until it is registered (ncn subnet create), or fix --subnet (NCN_SUBNETS)",
      });
    } catch {
      // The catalog could not be read: nothing to say about the subnet.
    }
  }

  #served(tasks: number, charged: bigint): void {
    this.served.tasks += tasks;
    this.served.charged += charged;
  }

  /**
   * Every TALLY_MS: adds what was served since to the data folder's tally (what
   * `ncn-agent earnings` reads); every SUMMARY_MS while tasks are served, one log line.
   */
  #tally(final = false): void {
    const { tasks, charged } = this.served;
    const mark = this.#tallyMark;
    if (tasks !== mark.tasks) {
      try {
        addServedTally(this.config.dataDir, {
          tasks: tasks - mark.tasks,
          charged: charged - mark.charged,
          since: this.served.since,
        });
        this.#tallyMark = { tasks, charged };
      } catch (e) {
        this.#log.warn("served tally not saved", { error: String(e) });
      }
    }
    const now = Date.now();
    if (!final && now - this.#summaryAt < SUMMARY_MS) return;
    const last = this.#summaryMark;
    this.#summaryAt = now;
    if (tasks === last.tasks) return;
    this.#log.info("served", {
      tasks: tasks - last.tasks,
      charged: (charged - last.charged).toString(),
      seconds: Math.round((now - last.at) / 1000),
      totalTasks: tasks,
      totalCharged: charged.toString(),
      see: "ncn-agent earnings",
    });
    this.#summaryMark = { tasks, charged, at: now };
  }

  #resend(link: GatewayLink): void {
    for (const frame of this.outbox.frames(link.subnet)) link.send(frame);
  }

  #send(subnet: string, frame: Parameters<GatewayLink["send"]>[0]): boolean {
    return this.links.get(subnet)?.send(frame) ?? false;
  }

  #onTask(link: GatewayLink, task: TaskFrame): void {
    if (this.#stopping) {
      link.send({
        type: "error",
        taskId: task.taskId,
        code: "UNAVAILABLE",
        message: "the agent is stopping; send the task to another agent",
      });
      return;
    }
    const done = this.outbox.frameOf(task.taskId);
    if (done) {
      this.#log.info("task already done; sending its result again", { taskId: task.taskId });
      link.send(done);
      return;
    }
    if (this.runner.has(task.taskId) || this.batcher.has(task.taskId)) {
      this.#log.debug("task already running; duplicate ignored", { taskId: task.taskId });
      return;
    }
    const refusal = admitTask({
      running: this.runner.running,
      concurrency: this.runner.concurrency,
      queued: this.runner.queued,
      maxQueued: this.config.maxQueued,
      outboxBytes: this.outbox.bytes,
      outboxMaxBytes: this.#o.outboxMaxBytes ?? this.config.outboxMaxBytes,
    });
    if (refusal) {
      this.#log.warn("task refused", { taskId: task.taskId, error: refusal.message });
      link.send({ type: "error", taskId: task.taskId, ...refusal });
      return;
    }
    const domain = link.domain;
    if (!domain) return;
    const batch = task.receipts === "batch";
    if (batch) this.#batchWork++;
    this.runner.submit(task.taskId, (signal) => this.#run(link.subnet, domain, task, batch, signal), {
      abortAt: task.deadline + (this.#o.deadlineGraceMs ?? 1000),
    });
  }

  /**
   * The token stream of a `generate` task the gateway asked to stream (never of a batch-mode
   * one): its deltas go out in `tokens` frames while the task is live, and stop when it is
   * cancelled or runs past its deadline.
   */
  #tokenStream(
    subnet: string,
    task: TaskFrame,
    batch: boolean,
    signal: AbortSignal,
  ): TokenStream | undefined {
    if (task.kind !== "generate" || task.stream !== true || batch) return undefined;
    const { taskId, requestId } = task;
    const stream = new TokenStream({
      send: (deltas) => this.#send(subnet, { type: "tokens", taskId, requestId, deltas }),
    });
    signal.addEventListener("abort", () => stream.abort(), { once: true });
    return stream;
  }

  /**
   * Runs one task. "each": signs its receipt, stores the result and sends it. "batch":
   * hands the result and its unsigned receipt to the batcher, which signs many at once;
   * such tasks send no progress frames of their own (only a model download is reported).
   */
  async #run(
    subnet: string,
    domain: NcnDomain,
    task: TaskFrame,
    batch: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const taskId = task.taskId;
    const fail = (code: ErrorCode, message: string) => {
      this.#log.warn("task failed", { requestId: task.requestId, taskId, code, error: message });
      this.#send(subnet, { type: "error", taskId, code, message: message.slice(0, 2000) });
    };
    let item: BatchItem | undefined;
    let tokens: TokenStream | undefined;
    try {
      if (task.deadline <= Date.now())
        return fail("DEADLINE_EXCEEDED", "task reached the agent after its deadline");
      const t0 = performance.now();
      const progress = (stage: string, progress?: number) =>
        this.#send(subnet, {
          type: "progress",
          taskId,
          stage,
          ...(progress === undefined ? {} : { progress }),
        });
      tokens = this.#tokenStream(subnet, task, batch, signal);
      // A streamed generation's first tokens frame says it started: a progress frame ahead of
      // it would only hold it up at the gateway (each is a step of the request's state).
      if (!batch && !tokens) progress("started", 0);
      const outcome = await this.executor.execute(task, {
        signal,
        onProgress: batch
          ? (stage, p) => {
              if (stage === "download") progress(stage, p);
            }
          : progress,
        ...(tokens ? { onToken: (d: TokenDelta) => tokens?.push(d) } : {}),
      });
      // The last tokens go out before the result frame.
      tokens?.end();
      const fields: ReceiptFields = {
        requestId: task.requestId,
        subnetId: task.subnet,
        modelId: task.model.id,
        modelHash: outcome.modelHash,
        inputHash: outcome.inputHash,
        outputHash: outcome.outputHash,
        // Priced per token: the charge of what the model read and wrote, at most task.price.
        price: taskCharge(task, outcome.result).toString(),
        startedAt: outcome.startedAt,
        finishedAt: outcome.finishedAt,
      };
      if (batch) {
        item = {
          taskId,
          result: outcome.result,
          receipt: buildReceipt(this.account.address, fields),
          computeMs: Math.round((performance.now() - t0) * 100) / 100,
        };
        return;
      }
      const receipt = await signReceipt(this.account, domain, fields);
      const frame: ResultFrame = {
        type: "result",
        taskId,
        result: outcome.result,
        receipt,
        computeMs: Math.round((performance.now() - t0) * 100) / 100,
      };
      await this.outbox.put(subnet, frame);
      const sent = this.#send(subnet, frame);
      this.#served(1, BigInt(receipt.receipt.price));
      this.#log.info("task done", {
        requestId: task.requestId,
        taskId,
        model: task.model.id,
        kind: task.kind,
        ms: frame.computeMs,
        delivered: sent,
        timings: outcome.timings,
        ...(tokens ? { tokenFrames: tokens.frames } : {}),
      });
    } catch (e) {
      tokens?.abort();
      if (signal.aborted && signal.reason instanceof AgentError && signal.reason.code === "DEADLINE_EXCEEDED")
        return fail("DEADLINE_EXCEEDED", "task ran past its deadline");
      const { code, message } = describeError(e);
      fail(code, message);
    } finally {
      if (batch) {
        this.#batchWork--;
        try {
          if (item) this.batcher.add(subnet, domain, item);
          else if (this.#batchWork === 0) this.batcher.drained();
        } catch (e) {
          fail("INTERNAL", describeError(e).message);
        }
      }
    }
  }
}

import { DurableObject } from "cloudflare:workers";
import {
  Address,
  AGENT_PROTOCOL_VERSION,
  AgentToGatewayFrame,
  authMessage,
  Bytes32,
  type Capabilities,
  decodeFrame,
  type GatewayToAgentFrame,
  MAX_FRAME_BYTES,
  MAX_HELLO_BYTES,
  SubnetId,
  type TaskFrame,
  TaskId,
  UintString,
} from "@ncn/protocol";
import * as v from "valibot";
import { recoverMessageAddress } from "viem";
import { loadCatalog } from "../catalog.ts";
import { configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import { AgentListing, admittedAgents } from "../logic/admission.ts";
import { type AgentView, ewma, pickAgent, type TaskNeeds } from "../logic/scheduler.ts";
import { inAnswerOrder, registryAnswered } from "../registry-order.ts";
import { unwrap } from "../rpc.ts";
import { type DeliveryJournal, type JournalCharge, StreamHub } from "./stream-hub.ts";

const log = logger("gateway:subnet");

/** Longest a charged batch's journal row waits to be deleted together with the next write. */
const JOURNAL_DROP_MS = 1_000;

/** A journal row's charges, as the stream hub wrote them (read back after a crash). */
const JournalCharges = v.array(
  v.object({
    seq: v.number(),
    requestId: v.string(),
    price: UintString,
    agent: Address,
    receiptDigest: Bytes32,
    attesters: v.array(v.string()),
  }),
);

const HEARTBEAT_MS = 5_000;
/** An agent silent for this long is treated as gone. */
const STALE_AGENT_MS = 3 * HEARTBEAT_MS;
const HELLO_TIMEOUT_MS = 10_000;
/** How long the streams' view of the agents may be reused. */
const POOL_VIEW_MS = 100;
/** How stale the registry's reputation snapshot may get before a background refresh. */
const REPUTATION_REFRESH_MS = 10_000;
/** How often the registry's list of live agents is read again for admission. */
const ADMISSION_REFRESH_MS = 5_000;
/** Read sooner while a connected agent waits for admission. */
const ADMISSION_RETRY_MS = 500;
/** How long after its hello a connected, not yet admitted agent is worth waiting for. */
const ADMISSION_GRACE_MS = 15_000;
/** Close codes for a refused hello: it broke the schema, or this shard holds all the agents it may. */
const CLOSE_BAD_HELLO = 4002;
const CLOSE_HELLO_TOO_LARGE = 1009;
const CLOSE_SHARD_FULL = 4029;
const ReputationListing = v.object({ agents: v.array(v.object({ agent: v.string(), score: v.number() })) });

/** What survives hibernation on each socket (kept small: ids and the auth nonce). */
const Attachment = v.variant("state", [
  v.object({
    state: v.literal("challenged"),
    nonce: Bytes32,
    gateway: v.string(),
    subnet: SubnetId,
    at: v.number(),
  }),
  v.object({ state: v.literal("ready"), agent: Address, subnet: SubnetId }),
]);
type Attachment = v.InferOutput<typeof Attachment>;

export interface DispatchResult {
  agent: string | null;
  /** Capable agents that are only full right now: worth waiting for. */
  busy: number;
}

export interface AgentSummary {
  address: string;
  connected: boolean;
  running: number;
  maxConcurrency: number;
  reputation: number;
  latencyMs: number | null;
  runtimes: string[];
  lastSeen: number;
}

/**
 * One shard of a subnet's agents: their sockets (hibernation API), capabilities, load
 * and the reservation table. Agents land on a shard by a hash of their address; the
 * Request object asks a shard to dispatch and hears back about results.
 */
export class SubnetShard extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #reputationAt = 0;

  readonly #hub: StreamHub;
  /** The stream hub's journal (see `#journal`). */
  readonly #deliveries: DeliveryJournal;
  #pool: { at: number; views: AgentView[]; sockets: Map<string, WebSocket>; pending: number } | undefined;
  readonly #attachments = new WeakMap<WebSocket, Attachment>();
  /** Agents the registry lists as alive and eligible in this subnet, with until when (ms). */
  #admitted = new Map<string, number>();
  #admissionAt = 0;
  /** Whether a registry node answered an admission read since this instance started. */
  #admissionHeard = false;
  #admitting: Promise<void> | undefined;
  /** When each agent said hello (ms): one that just connected may be registering right now. */
  readonly #helloAt = new Map<string, number>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#deliveries = this.#journal();
    this.#hub = new StreamHub(
      env,
      {
        agents: () => this.#poolViews(),
        send: (ws, frame) => this.#send(ws, frame),
      },
      this.#deliveries,
    );
    ctx.blockConcurrencyWhile(async () => {
      this.#migrate();
      this.#loadAdmissions();
      // Streams a previous instance left (the process died): charge what they delivered, return
      // their leases, before any new stream is served: a client that reconnects is then told a
      // charged total that includes them, and acknowledges them (it received them). Charged
      // afterwards, they could land after its last acknowledgement and be given up unpaid.
      const left = this.#sql
        .exec<{ stream_key: string; session_id: string }>(`SELECT stream_key, session_id FROM hub_streams`)
        .toArray();
      if (left.length > 0) await this.#finishStreams(left);
    });
  }

  /**
   * The hub's journal in this object's SQLite storage (written before the results go out).
   * Rows of charged batches are deleted with the next write (or within a second when none
   * comes): a write of their own would be one more commit that every message out waits for.
   * A row left by a crash is harmless: the Session object charges each delivery number once.
   */
  #journal(): DeliveryJournal {
    const chargedUpTo = new Map<string, number>();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const dropCharged = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const [key, seq] of chargedUpTo) {
        this.#sql.exec(`DELETE FROM hub_batches WHERE stream_key = ? AND last_seq <= ?`, key, seq);
      }
      chargedUpTo.clear();
    };
    return {
      opened: (key, sessionId) => {
        this.#sql.exec(
          `INSERT OR IGNORE INTO hub_streams (stream_key, session_id, opened_at) VALUES (?, ?, ?)`,
          key,
          sessionId,
          Date.now(),
        );
      },
      delivered: (key, charges) => {
        // One row per delivered batch: one write however many results it holds.
        const last = charges.reduce((m, c) => Math.max(m, c.seq), 0);
        if (last === 0) return;
        dropCharged();
        this.#sql.exec(
          `INSERT OR REPLACE INTO hub_batches (stream_key, last_seq, charges) VALUES (?, ?, ?)`,
          key,
          last,
          JSON.stringify(charges),
        );
      },
      charged: (key, seq) => {
        chargedUpTo.set(key, Math.max(seq, chargedUpTo.get(key) ?? 0));
        timer ??= setTimeout(dropCharged, JOURNAL_DROP_MS);
      },
      ended: (key) => {
        chargedUpTo.delete(key);
        this.#sql.exec(`DELETE FROM hub_batches WHERE stream_key = ?`, key);
        this.#sql.exec(`DELETE FROM hub_streams WHERE stream_key = ?`, key);
      },
    };
  }

  /**
   * Charges the results that streams of a dead instance delivered but had not charged (the
   * Session object charges each delivery number once), then gives their leases back.
   */
  async #finishStreams(streams: { stream_key: string; session_id: string }[]): Promise<void> {
    for (const { stream_key: key, session_id } of streams) {
      const sessionId = session_id as `0x${string}`;
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(sessionId));
      const rows = this.#sql
        .exec<{ charges: string }>(
          `SELECT charges FROM hub_batches WHERE stream_key = ? ORDER BY last_seq`,
          key,
        )
        .toArray();
      try {
        if (rows.length > 0) {
          const charges: JournalCharge[] = rows.flatMap((r) =>
            v.parse(JournalCharges, JSON.parse(r.charges)),
          );
          unwrap(await session.streamCommit(sessionId, key, charges));
          log.info("charged a dead stream's deliveries", { sessionId, requests: charges.length });
        }
        await session.endStream(key);
      } catch (e) {
        // Left for the next start; the Session object charges each delivery once, however often told.
        log.error("a dead stream's deliveries could not be charged", { sessionId, error: String(e) });
        continue;
      }
      this.#deliveries.ended(key);
    }
  }

  #migrate(): void {
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`);
    const row = this.#sql.exec<{ v: string }>(`SELECT v FROM meta WHERE k = 'schema'`).toArray()[0];
    if (row?.v === "3") return;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS agents (
      address TEXT PRIMARY KEY, runtimes TEXT NOT NULL, cached TEXT NOT NULL, max_concurrency INTEGER NOT NULL,
      capabilities TEXT NOT NULL, running INTEGER NOT NULL DEFAULT 0,
      reputation REAL NOT NULL DEFAULT 0, latency REAL, last_seen INTEGER NOT NULL, connected INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS reservations (
      task_id TEXT PRIMARY KEY, request_id TEXT NOT NULL, agent TEXT NOT NULL,
      expires_at INTEGER NOT NULL, started_at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE INDEX IF NOT EXISTS reservations_agent ON reservations (agent)`);
    // Admissions outlive the object's eviction (about 10 s idle): without them the first
    // requests after a quiet spell would find no admitted agent until the registry answers.
    this.#sql.exec(
      `CREATE TABLE IF NOT EXISTS admissions (address TEXT PRIMARY KEY, until INTEGER NOT NULL)`,
    );
    // Version 3: the stream hub's journal (see `DeliveryJournal`).
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS hub_streams (
      stream_key TEXT PRIMARY KEY, session_id TEXT NOT NULL, opened_at INTEGER NOT NULL)`);
    // One row per delivered batch: its charges as JSON, up to delivery number `last_seq`.
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS hub_batches (
      stream_key TEXT NOT NULL, last_seq INTEGER NOT NULL, charges TEXT NOT NULL, PRIMARY KEY (stream_key, last_seq))`);
    this.#sql.exec(`INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', '3')`);
  }

  #loadAdmissions(): void {
    const now = Date.now();
    for (const row of this.#sql.exec<{ address: string; until: number }>(`SELECT * FROM admissions`)) {
      if (row.until > now) this.#admitted.set(row.address, row.until);
    }
  }

  /** Agent WebSocket upgrade (or a client's session stream), routed here by the worker. */
  override async fetch(request: Request): Promise<Response> {
    if (request.headers.get("Upgrade")?.toLowerCase() !== "websocket") {
      return new Response("expected a WebSocket upgrade", { status: 426 });
    }
    const url = new URL(request.url);
    // The worker parsed the subnet (and the session id) already; the ids are parsed here again
    // so that what the sockets keep is typed as what it is.
    const subnet = v.safeParse(SubnetId, url.searchParams.get("subnet"));
    if (!subnet.success) return new Response("expected ?subnet=<subnet id>", { status: 400 });
    const stream = /^\/v1\/sessions\/([^/]+)\/stream$/.exec(url.pathname);
    if (stream) {
      const sessionId = v.safeParse(Bytes32, stream[1]);
      if (!sessionId.success) return new Response("expected a session id (bytes32)", { status: 400 });
      return this.#hub.accept(sessionId.output, subnet.output);
    }
    const pair = new WebSocketPair();
    const [client, server] = [pair[0], pair[1]];
    this.ctx.acceptWebSocket(server);
    const nonce = randomBytes32();
    const gateway = gatewayName(url);
    const attachment: Attachment = {
      state: "challenged",
      nonce,
      gateway,
      subnet: subnet.output,
      at: Date.now(),
    };
    this.#attach(server, attachment);
    const config = configOf(this.env);
    this.#send(server, {
      type: "challenge",
      v: AGENT_PROTOCOL_VERSION,
      nonce,
      gateway,
      chainId: config.CHAIN_ID,
      verifyingContract: config.PAYMENT_CONTRACT,
      serverTime: Date.now(),
    });
    await this.#armAlarm(Date.now() + HELLO_TIMEOUT_MS);
    return new Response(null, { status: 101, webSocket: client });
  }

  override async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const att = this.#attachment(ws);
    if (!att) return ws.close(1011, "lost state");
    // Before the agent proved its key, read no more than a hello needs.
    const maxBytes = att.state === "challenged" ? MAX_HELLO_BYTES : MAX_FRAME_BYTES;
    const decoded = decodeFrame(AgentToGatewayFrame, message, maxBytes);
    if (!decoded.ok) {
      const { problem, shortMessage } = decoded.error;
      if (att.state === "challenged" && (problem === "not_text" || problem === "too_large")) {
        return this.#refuseHello(
          ws,
          "PAYLOAD_TOO_LARGE",
          `a hello is JSON text of at most ${MAX_HELLO_BYTES} bytes`,
          CLOSE_HELLO_TOO_LARGE,
        );
      }
      if (att.state === "challenged" && problem === "invalid")
        return this.#refuseHello(ws, "FRAME_INVALID", shortMessage, CLOSE_BAD_HELLO);
      return this.#frameError(ws, decoded.error.field("taskId", TaskId), shortMessage);
    }
    const frame = decoded.frame;
    if (att.state === "challenged") {
      if (frame.type !== "hello")
        return this.#frameError(ws, undefined, "authenticate with a hello frame first");
      return this.#hello(ws, att, frame);
    }
    const agent = att.agent;
    switch (frame.type) {
      case "hello":
        return this.#frameError(ws, undefined, "already authenticated");
      case "heartbeat":
        this.#sql.exec(`UPDATE agents SET last_seen = ? WHERE address = ?`, Date.now(), agent);
        // A model the agent fetched since it said hello makes it the warm choice for that model.
        if (frame.cachedModels) {
          this.#sql.exec(
            `UPDATE agents SET cached = ? WHERE address = ?`,
            frame.cachedModels.join(","),
            agent,
          );
        }
        return;
      case "progress": {
        const r = this.#reservation(frame.taskId);
        if (r && r.agent === agent) {
          await this.#request(r.request_id).progress(frame.taskId, frame.stage, frame.progress ?? null);
        }
        return;
      }
      case "tokens": {
        // Only the agent holding this attempt speaks for it: a stranger's tokens, a stale
        // attempt's, or ones naming another request are dropped here.
        const r = this.#reservation(frame.taskId);
        if (!r || r.agent !== agent || r.request_id !== frame.requestId) return;
        try {
          await this.#request(r.request_id).tokens(frame.taskId, agent, frame.deltas);
        } catch (e) {
          log.warn("tokens not passed on", { requestId: r.request_id, agent, error: String(e) });
        }
        return;
      }
      case "result": {
        const r = this.#reservation(frame.taskId);
        const requestId = r?.request_id ?? frame.taskId.split(":")[0] ?? "";
        let stored = false;
        try {
          stored = await this.#request(requestId).onResult(agent, frame);
        } catch (e) {
          log.error("result intake failed", { requestId, agent, error: String(e) });
          return; // no ack: the agent keeps it and offers it again
        }
        if (r) this.#finish(r, Date.now() - r.started_at, true);
        this.#send(ws, { type: "ack", taskId: frame.taskId });
        if (!stored) log.warn("result refused", { requestId, agent, taskId: frame.taskId });
        return;
      }
      case "results":
        this.#hub.onResults(agent, ws, frame);
        return;
      case "error": {
        if (frame.taskId === undefined) {
          log.warn("agent reported an error", { agent, code: frame.code, message: frame.message });
          return;
        }
        if (this.#hub.taskFailed(agent, frame.taskId, frame.code, frame.message)) return;
        const r = this.#reservation(frame.taskId);
        if (!r || r.agent !== agent) return;
        this.#finish(r, undefined, false);
        await this.#request(r.request_id).onTaskFailed(frame.taskId, agent, frame.code, frame.message);
        return;
      }
    }
  }

  override async webSocketClose(ws: WebSocket): Promise<void> {
    await this.#dropSocket(ws, "disconnected");
  }

  override async webSocketError(ws: WebSocket): Promise<void> {
    await this.#dropSocket(ws, "socket error");
  }

  /** Reserves an agent for a task and sends it; `agent: null` when none can take it. */
  async dispatch(
    task: TaskFrame,
    needs: Omit<TaskNeeds, "exclude">,
    exclude: string[],
  ): Promise<DispatchResult> {
    if (Date.now() - this.#reputationAt > REPUTATION_REFRESH_MS) {
      this.#reputationAt = Date.now();
      this.ctx.waitUntil(this.#refreshReputation());
    }
    const { views, sockets, pending } = this.#agentViews();
    const now = Date.now();
    const excluded = new Set(exclude);
    const chosen = pickAgent(views, { ...needs, exclude: excluded });
    if (!chosen) {
      // Agents waiting for admission count as busy: the request waits for them a while.
      const busy =
        pending +
        views.filter(
          (a) =>
            !excluded.has(a.address) && a.runtimes.includes(needs.runtime) && a.running >= a.maxConcurrency,
        ).length;
      return { agent: null, busy };
    }
    const ws = sockets.get(chosen.address);
    if (!ws) return { agent: null, busy: 0 };
    this.#sql.exec(
      `INSERT OR REPLACE INTO reservations (task_id, request_id, agent, expires_at, started_at) VALUES (?, ?, ?, ?, ?)`,
      task.taskId,
      task.requestId,
      chosen.address,
      task.deadline,
      now,
    );
    this.#sql.exec(`UPDATE agents SET running = running + 1 WHERE address = ?`, chosen.address);
    this.#send(ws, task);
    await this.#armAlarm(task.deadline);
    return { agent: chosen.address, busy: 0 };
  }

  /**
   * The agent view the session streams schedule on: read at most every POOL_VIEW_MS (the
   * hub asks on every request; agents, their capabilities and the per-request path's load
   * change far more slowly), and at once after an agent connects or leaves.
   */
  #poolViews(): { views: AgentView[]; sockets: Map<string, WebSocket>; pending: number } {
    const now = Date.now();
    if (!this.#pool || now - this.#pool.at > POOL_VIEW_MS) {
      const { views, sockets, pending } = this.#agentViews(false);
      this.#pool = { at: now, views, sockets, pending };
    }
    return this.#pool;
  }

  /** Connected, fresh agents; running counts include the session streams' tasks unless asked not to. */
  #agentViews(withStreams = true): {
    views: AgentView[];
    sockets: Map<string, WebSocket>;
    /** Connected agents that said hello moments ago and are not admitted yet. */
    pending: number;
  } {
    const sockets = this.#readySockets();
    const views: AgentView[] = [];
    const now = Date.now();
    let pending = 0;
    let unadmitted = 0;
    for (const row of this.#sql.exec<AgentRow>(`SELECT * FROM agents WHERE connected = 1`)) {
      if (!sockets.has(row.address) || now - row.last_seen > STALE_AGENT_MS) continue;
      if ((this.#admitted.get(row.address) ?? 0) <= now) {
        unadmitted++;
        // Worth waiting for: one that said hello moments ago (it may be registering now), and
        // every one while this instance has not heard the registry yet (after an eviction).
        if (!this.#admissionHeard || now - (this.#helloAt.get(row.address) ?? 0) < ADMISSION_GRACE_MS)
          pending++;
        continue;
      }
      views.push({
        address: row.address,
        runtimes: row.runtimes.split(","),
        cachedModels: row.cached.split(","),
        maxConcurrency: row.max_concurrency,
        running: row.running + (withStreams ? this.#hub.running(row.address) : 0),
        reputation: row.reputation,
        latencyMs: row.latency ?? undefined,
      });
    }
    this.#maybeRefreshAdmission(
      now,
      pending > 0 || unadmitted > 0 ? ADMISSION_RETRY_MS : ADMISSION_REFRESH_MS,
    );
    return { views, sockets, pending };
  }

  /** Reads admissions again when they are old (in the background: the request path never waits on it). */
  #maybeRefreshAdmission(now: number, every = ADMISSION_REFRESH_MS): void {
    if (this.#admitting || now - this.#admissionAt < every) return;
    this.#admissionAt = now;
    this.#admitting = this.#refreshAdmission().finally(() => {
      this.#admitting = undefined;
    });
    this.ctx.waitUntil(this.#admitting);
  }

  /**
   * Admits the agents the registry lists as alive in this subnet with enough reputation
   * (see `admittedAgents`); the first registry node that answers decides. When none answers,
   * admissions already granted run out on their own.
   */
  async #refreshAdmission(): Promise<void> {
    const subnet = this.#subnet();
    if (subnet === undefined) return;
    const config = configOf(this.env);
    const min = await loadCatalog(config.REGISTRY_URLS)
      .then((c) => c.subnets.get(subnet)?.minReputation)
      .catch(() => undefined);
    for (const url of inAnswerOrder(config.REGISTRY_URLS)) {
      try {
        const res = await fetch(`${url.replace(/\/$/, "")}/v1/agents?subnet=${encodeURIComponent(subnet)}`, {
          signal: AbortSignal.timeout(3_000),
        });
        const parsed = v.safeParse(AgentListing, await res.json());
        if (!parsed.success) continue;
        registryAnswered(url);
        this.#admitted = admittedAgents(parsed.output, min, Date.now());
        this.#admissionHeard = true;
        this.#storeAdmissions();
        this.#pool = undefined;
        this.#hub.wake();
        return;
      } catch (e) {
        log.warn("admission refresh failed", { url, error: String(e) });
      }
    }
  }

  #storeAdmissions(): void {
    this.#sql.exec(`DELETE FROM admissions`);
    for (const [address, until] of this.#admitted) {
      this.#sql.exec(`INSERT INTO admissions (address, until) VALUES (?, ?)`, address, until);
    }
  }

  /** The subnet this shard serves, from its sockets' attachments. */
  #subnet(): SubnetId | undefined {
    for (const ws of this.ctx.getWebSockets()) {
      const att = this.#attachment(ws);
      if (att) return att.subnet;
    }
    return undefined;
  }

  /** Withdraws a task from its agent (cancel, or a retry elsewhere). */
  async cancel(taskId: string, reason: string): Promise<void> {
    const r = this.#reservation(taskId);
    if (!r) return;
    this.#finish(r, undefined, false);
    const ws = this.#readySockets().get(r.agent);
    if (ws) this.#send(ws, { type: "cancel", taskId, reason });
  }

  /** Reads the validators' reputation scores into the scheduling view (off the request path). */
  async #refreshReputation(): Promise<void> {
    for (const url of inAnswerOrder(configOf(this.env).REGISTRY_URLS)) {
      try {
        const res = await fetch(`${url.replace(/\/$/, "")}/v1/reputation`, {
          signal: AbortSignal.timeout(3_000),
        });
        const parsed = v.safeParse(ReputationListing, await res.json());
        if (!parsed.success) continue;
        await this.setReputation(Object.fromEntries(parsed.output.agents.map((a) => [a.agent, a.score])));
        return;
      } catch (e) {
        log.warn("reputation refresh failed", { url, error: String(e) });
      }
    }
  }

  /** Sets agents' reputation scores (from the registry snapshot). */
  async setReputation(scores: Record<string, number>): Promise<void> {
    for (const [address, score] of Object.entries(scores)) {
      this.#sql.exec(`UPDATE agents SET reputation = ? WHERE address = ?`, score, address.toLowerCase());
    }
  }

  async agents(): Promise<AgentSummary[]> {
    const sockets = this.#readySockets();
    return this.#sql
      .exec<AgentRow>(`SELECT * FROM agents ORDER BY address`)
      .toArray()
      .map((row) => ({
        address: row.address,
        connected: row.connected === 1 && sockets.has(row.address),
        running: row.running,
        maxConcurrency: row.max_concurrency,
        reputation: row.reputation,
        latencyMs: row.latency,
        runtimes: row.runtimes.split(","),
        lastSeen: row.last_seen,
      }));
  }

  override async alarm(): Promise<void> {
    const now = Date.now();
    // Sockets that never said hello.
    for (const ws of this.ctx.getWebSockets()) {
      const att = this.#attachment(ws);
      if (att?.state === "challenged" && now - att.at > HELLO_TIMEOUT_MS)
        ws.close(4001, "authentication timeout");
    }
    // Reservations past their deadline: the agent loses the task.
    const expired = this.#sql
      .exec<ReservationRow>(`SELECT * FROM reservations WHERE expires_at <= ?`, now)
      .toArray();
    for (const r of expired) {
      this.#finish(r, undefined, false);
      await this.#request(r.request_id).onTaskFailed(
        r.task_id,
        r.agent,
        "AGENT_TIMEOUT",
        "agent missed the deadline",
      );
    }
    this.#pruneAgents(now);
    const nextExpiry = this.#sql
      .exec<{ t: number | null }>(`SELECT min(expires_at) AS t FROM reservations`)
      .one().t;
    // Rows of agents without a live socket come back to be pruned.
    const live = this.#readySockets();
    const oldestGone = this.#sql
      .exec<{ address: string; last_seen: number }>(
        `SELECT address, last_seen FROM agents ORDER BY last_seen`,
      )
      .toArray()
      .find((r) => !live.has(r.address));
    const nextPrune =
      oldestGone === undefined
        ? null
        : Math.max(now + 1_000, oldestGone.last_seen + configOf(this.env).AGENT_ROW_TTL_MS);
    const next = Math.min(nextExpiry ?? Number.POSITIVE_INFINITY, nextPrune ?? Number.POSITIVE_INFINITY);
    if (Number.isFinite(next)) await this.ctx.storage.setAlarm(next);
  }

  async #hello(
    ws: WebSocket,
    att: Extract<Attachment, { state: "challenged" }>,
    frame: HelloFrameT,
  ): Promise<void> {
    if (frame.nonce !== att.nonce) return this.#authFail(ws, "nonce does not match the challenge");
    let signer: string;
    try {
      signer = await recoverMessageAddress({
        message: authMessage(att.nonce, att.gateway),
        signature: frame.signature,
      });
    } catch {
      return this.#authFail(ws, "signature cannot be recovered");
    }
    if (signer.toLowerCase() !== frame.agent)
      return this.#authFail(ws, "signature is not by the claimed agent");
    if (!frame.subnets.includes(att.subnet)) {
      return this.#authFail(ws, `agent does not serve subnet ${att.subnet}`);
    }
    // One socket per agent: a reconnect replaces the old one.
    for (const other of this.ctx.getWebSockets()) {
      const o = this.#attachment(other);
      if (other !== ws && o?.state === "ready" && o.agent === frame.agent)
        other.close(4000, "replaced by a new connection");
    }
    const now = Date.now();
    this.#pruneAgents(now);
    if (!this.#roomFor(frame.agent)) {
      return this.#refuseHello(
        ws,
        "UNAVAILABLE",
        "this subnet shard serves as many agents as it may; try again later",
        CLOSE_SHARD_FULL,
      );
    }
    const ready: Attachment = { state: "ready", agent: frame.agent, subnet: att.subnet };
    this.#attach(ws, ready);
    const caps: Capabilities = frame.capabilities;
    this.#sql.exec(
      `INSERT INTO agents (address, runtimes, cached, max_concurrency, capabilities, running, last_seen, connected)
       VALUES (?, ?, ?, ?, ?, 0, ?, 1)
       ON CONFLICT(address) DO UPDATE SET runtimes = excluded.runtimes, cached = excluded.cached,
         max_concurrency = excluded.max_concurrency, capabilities = excluded.capabilities,
         last_seen = excluded.last_seen, connected = 1,
         running = (SELECT count(*) FROM reservations WHERE agent = excluded.address)`,
      frame.agent,
      caps.runtimes.join(","),
      caps.cachedModels.join(","),
      caps.maxConcurrency,
      JSON.stringify(caps),
      Date.now(),
    );
    this.#send(ws, {
      type: "welcome",
      agent: frame.agent,
      heartbeatMs: HEARTBEAT_MS,
      registries: configOf(this.env).REGISTRY_URLS,
    });
    this.#pool = undefined;
    // A newly connected agent is admitted as soon as the registry lists it.
    this.#helloAt.set(frame.agent, Date.now());
    this.#admissionAt = 0;
    this.#maybeRefreshAdmission(Date.now());
    this.#hub.wake();
    log.info("agent connected", {
      agent: frame.agent,
      subnet: att.subnet,
      pending: frame.pending?.length ?? 0,
    });
  }

  /**
   * Drops rows of agents gone longer than AGENT_ROW_TTL_MS (no live socket, no reservation),
   * and the notes kept about them, so agents that come and go leave nothing behind.
   */
  #pruneAgents(now: number): void {
    const live = this.#readySockets();
    const cutoff = now - configOf(this.env).AGENT_ROW_TTL_MS;
    const stale = this.#sql
      .exec<{ address: string }>(
        `SELECT address FROM agents WHERE last_seen < ?
           AND NOT EXISTS (SELECT 1 FROM reservations WHERE reservations.agent = agents.address)`,
        cutoff,
      )
      .toArray()
      .filter((r) => !live.has(r.address));
    for (const r of stale) this.#sql.exec(`DELETE FROM agents WHERE address = ?`, r.address);
    for (const [agent, at] of this.#helloAt) if (now - at > ADMISSION_GRACE_MS) this.#helloAt.delete(agent);
    if (stale.length > 0) this.#pool = undefined;
  }

  /**
   * Whether `agent` may have a row: it has one already, or the shard holds fewer than
   * MAX_AGENTS_PER_SHARD. When full, the row of the agent gone longest makes room; when every
   * row is a connected agent, there is none.
   */
  #roomFor(agent: string): boolean {
    const known = this.#sql.exec(`SELECT 1 FROM agents WHERE address = ?`, agent).toArray().length > 0;
    if (known) return true;
    const max = configOf(this.env).MAX_AGENTS_PER_SHARD;
    const count = this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM agents`).one().n;
    if (count < max) return true;
    const live = this.#readySockets();
    const gone = this.#sql
      .exec<{ address: string }>(`SELECT address FROM agents ORDER BY last_seen`)
      .toArray()
      .filter((r) => !live.has(r.address))
      .slice(0, count - max + 1);
    if (count - gone.length >= max) return false;
    // Their reservations stay: the alarm still fails them over to the Request objects.
    for (const r of gone) this.#sql.exec(`DELETE FROM agents WHERE address = ?`, r.address);
    return true;
  }

  /** Refuses a socket that has not said a valid hello: a typed error, then the close. */
  #refuseHello(
    ws: WebSocket,
    code: "FRAME_INVALID" | "PAYLOAD_TOO_LARGE" | "UNAVAILABLE",
    why: string,
    close: number,
  ): void {
    this.#send(ws, { type: "error", code, message: why });
    ws.close(close, code);
  }

  #authFail(ws: WebSocket, why: string): void {
    this.#send(ws, { type: "error", code: "UNAUTHORIZED", message: why });
    ws.close(4003, "authentication failed");
  }

  async #dropSocket(ws: WebSocket, why: string): Promise<void> {
    const att = this.#attachment(ws);
    if (att?.state !== "ready") return;
    // A newer socket of the same agent may already be live.
    const stillLive = [...this.ctx.getWebSockets()].some((o) => {
      const a = this.#attachment(o);
      return o !== ws && a?.state === "ready" && a.agent === att.agent;
    });
    if (stillLive) return;
    this.#sql.exec(`UPDATE agents SET connected = 0 WHERE address = ?`, att.agent);
    const lost = this.#sql
      .exec<ReservationRow>(`SELECT * FROM reservations WHERE agent = ?`, att.agent)
      .toArray();
    for (const r of lost) {
      this.#finish(r, undefined, false);
      await this.#request(r.request_id).onTaskFailed(r.task_id, r.agent, "AGENT_TIMEOUT", `agent ${why}`);
    }
    this.#pool = undefined;
    this.#hub.agentGone(att.agent, why);
    await this.#armAlarm(Date.now() + configOf(this.env).AGENT_ROW_TTL_MS);
    log.info("agent disconnected", { agent: att.agent, why, lostTasks: lost.length });
  }

  #finish(r: ReservationRow, latencyMs: number | undefined, ok: boolean): void {
    this.#sql.exec(`DELETE FROM reservations WHERE task_id = ?`, r.task_id);
    this.#sql.exec(`UPDATE agents SET running = max(0, running - 1) WHERE address = ?`, r.agent);
    this.#hub.wake();
    if (ok && latencyMs !== undefined) {
      const row = this.#sql
        .exec<{ latency: number | null }>(`SELECT latency FROM agents WHERE address = ?`, r.agent)
        .toArray()[0];
      this.#sql.exec(
        `UPDATE agents SET latency = ? WHERE address = ?`,
        ewma(row?.latency ?? undefined, latencyMs),
        r.agent,
      );
    }
  }

  #reservation(taskId: string): ReservationRow | undefined {
    return this.#sql
      .exec<ReservationRow>(`SELECT * FROM reservations WHERE task_id = ?`, taskId)
      .toArray()[0];
  }

  #readySockets(): Map<string, WebSocket> {
    const out = new Map<string, WebSocket>();
    for (const ws of this.ctx.getWebSockets()) {
      const att = this.#attachment(ws);
      if (att?.state === "ready") out.set(att.agent, ws);
    }
    return out;
  }

  /** A socket's attachment, parsed once per socket and state (every agent frame asks). */
  #attachment(ws: WebSocket): Attachment | undefined {
    const known = this.#attachments.get(ws);
    if (known) return known;
    const r = v.safeParse(Attachment, ws.deserializeAttachment());
    if (!r.success) return undefined;
    this.#attachments.set(ws, r.output);
    return r.output;
  }

  #attach(ws: WebSocket, att: Attachment): void {
    ws.serializeAttachment(att);
    this.#attachments.set(ws, att);
  }

  #request(requestId: string) {
    return this.env.REQUEST.get(this.env.REQUEST.idFromName(requestId));
  }

  #send(ws: WebSocket, frame: GatewayToAgentFrame): void {
    try {
      ws.send(JSON.stringify(frame));
    } catch (e) {
      log.warn("send failed", { error: String(e) });
    }
  }

  #frameError(ws: WebSocket, taskId: string | undefined, message: string): void {
    const frame: GatewayToAgentFrame =
      taskId === undefined
        ? { type: "error", code: "FRAME_INVALID", message }
        : { type: "error", taskId, code: "FRAME_INVALID", message };
    this.#send(ws, frame);
  }

  async #armAlarm(at: number): Promise<void> {
    const current = await this.ctx.storage.getAlarm();
    if (current === null || current > at) await this.ctx.storage.setAlarm(at);
  }
}

type HelloFrameT = Extract<v.InferOutput<typeof AgentToGatewayFrame>, { type: "hello" }>;

interface AgentRow extends Record<string, SqlStorageValue> {
  address: string;
  runtimes: string;
  cached: string;
  max_concurrency: number;
  capabilities: string;
  running: number;
  reputation: number;
  latency: number | null;
  last_seen: number;
  connected: number;
}

interface ReservationRow extends Record<string, SqlStorageValue> {
  task_id: string;
  request_id: string;
  agent: string;
  expires_at: number;
  started_at: number;
}

function randomBytes32(): Bytes32 {
  const b = crypto.getRandomValues(new Uint8Array(32));
  return v.parse(Bytes32, `0x${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`);
}

/** The name agents bind their signature to: the gateway's public host. */
export function gatewayName(url: URL): string {
  return url.host;
}

import {
  Address,
  AGENT_LIMITS,
  AGENT_PROTOCOL_VERSION,
  type AgentToGatewayFrame,
  authMessage,
  type Capabilities,
  decodeFrame,
  type ErrorCode,
  GatewayToAgentFrame,
  type Load,
  MAX_FRAME_BYTES,
  type NcnDomain,
  ncnDomain,
  type Sha256,
  Signature,
  SubnetId,
  type TaskFrame,
  TaskId,
} from "@ncn/protocol";
import { type Logger, silentLogger } from "@ncn/runtime/logger";
import * as v from "valibot";
import type { LocalAccount } from "viem";
import { AgentError } from "../errors.ts";
import { type BackoffOptions, backoffDelay, DEFAULT_BACKOFF } from "./backoff.ts";

export interface LinkHandlers {
  capabilities(): Capabilities;
  heartbeat(): { load: Load; cachedModels?: Sha256[] };
  /** Results of this subnet waiting for an ack (listed in `hello.pending`). */
  pending(subnet: string): string[];
  /** The link is authenticated: offer the pending results again. */
  onReady(link: GatewayLink): void;
  onTask(link: GatewayLink, task: TaskFrame): void;
  onCancel(link: GatewayLink, taskId: string, reason: string): void;
  onAck(link: GatewayLink, taskId: string): void;
  /** The gateway has taken a whole `results` frame, named by its receipts root. */
  onAckBatch(link: GatewayLink, receiptsRoot: `0x${string}`): void;
}

export interface GatewayLinkOptions {
  /** ws(s) base URL of the gateway. */
  gateway: string;
  subnet: string;
  account: LocalAccount;
  handlers: LinkHandlers;
  log?: Logger;
  backoff?: BackoffOptions;
  /** Longest wait from socket open to `welcome` before starting over (ms). */
  handshakeTimeoutMs?: number;
  /**
   * The only signing domain this agent signs receipts for: a challenge naming another chain
   * or payment contract is not answered (the link closes and retries with backoff).
   */
  pinnedDomain?: { chainId: number; verifyingContract: `0x${string}` };
}

export type LinkState = "idle" | "connecting" | "authenticating" | "ready" | "stopped";

/**
 * One authenticated WebSocket to the gateway for one subnet: answers the challenge,
 * heartbeats, hands tasks to the agent, answers malformed frames with `FRAME_INVALID`,
 * and reconnects with jittered exponential backoff whenever the socket goes away.
 */
export class GatewayLink {
  readonly subnet: SubnetId;
  /** The agent's address, as the hello frame carries it. */
  readonly #agent: Address;
  readonly url: string;
  /** Registry URLs the gateway named in its welcome. */
  registries: readonly string[] = [];
  #state: LinkState = "idle";
  #ws: WebSocket | undefined;
  #domain: NcnDomain | undefined;
  #attempt = 0;
  #connects = 0;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #heartbeat: ReturnType<typeof setInterval> | undefined;
  #readyWaiters: { resolve: () => void; reject: (e: Error) => void }[] = [];
  #refusal: AgentError | undefined;
  readonly #o: GatewayLinkOptions;
  readonly #log: Logger;

  constructor(options: GatewayLinkOptions) {
    this.#o = options;
    // Parsed once here, so that what the link sends carries the protocol's id types.
    this.subnet = v.parse(SubnetId, options.subnet);
    this.#agent = v.parse(Address, options.account.address);
    const q = new URLSearchParams({ subnet: options.subnet, agent: options.account.address.toLowerCase() });
    this.url = `${options.gateway}/v1/agents/connect?${q}`;
    this.#log = (options.log ?? silentLogger).child({ component: "agent:link", subnet: options.subnet });
  }

  get state(): LinkState {
    return this.#state;
  }

  get ready(): boolean {
    return this.#state === "ready";
  }

  /** Signing domain announced by the gateway in its challenge. */
  get domain(): NcnDomain | undefined {
    return this.#domain;
  }

  /** Successful authentications so far (1 after the first, +1 per reconnect). */
  get connects(): number {
    return this.#connects;
  }

  start(): void {
    if (this.#state !== "idle") return;
    this.#connect();
  }

  /** Why the gateway was last refused (its challenge named another signing domain), if it was. */
  get refusal(): AgentError | undefined {
    return this.#refusal;
  }

  /** Resolves once the link is authenticated; rejects at once while the gateway is refused. */
  waitReady(timeoutMs = 10_000): Promise<void> {
    if (this.ready) return Promise.resolve();
    if (this.#refusal) return Promise.reject(this.#refusal);
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () => reject(new Error(`gateway link not ready within ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.#readyWaiters.push({
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
        reject: (e) => {
          clearTimeout(t);
          reject(e);
        },
      });
    });
  }

  /** Sends a frame when authenticated; returns false (nothing sent) otherwise. */
  send(frame: AgentToGatewayFrame): boolean {
    if (this.#state !== "ready" || !this.#ws) return false;
    return this.#write(frame);
  }

  async stop(): Promise<void> {
    this.#state = "stopped";
    this.#stopTimers();
    const ws = this.#ws;
    this.#ws = undefined;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 1000);
        ws.addEventListener("close", () => {
          clearTimeout(t);
          resolve();
        });
        ws.close(1000, "agent stopping");
      });
    }
  }

  #write(frame: AgentToGatewayFrame): boolean {
    try {
      this.#ws?.send(JSON.stringify(frame));
      return true;
    } catch (e) {
      this.#log.warn("send failed", { error: e, type: frame.type });
      return false;
    }
  }

  #later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
  }

  #stopTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    if (this.#heartbeat) clearInterval(this.#heartbeat);
    this.#heartbeat = undefined;
  }

  #connect(): void {
    if (this.#state === "stopped") return;
    this.#state = "connecting";
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.url);
    } catch (e) {
      this.#log.warn("cannot open socket", { error: e });
      this.#scheduleReconnect();
      return;
    }
    ws.binaryType = "arraybuffer";
    this.#ws = ws;
    ws.addEventListener("open", () => {
      if (this.#ws !== ws) return;
      this.#state = "authenticating";
      this.#later(this.#o.handshakeTimeoutMs ?? 10_000, () => {
        if (this.#ws === ws && this.#state === "authenticating") {
          this.#log.warn("no welcome from the gateway in time; reconnecting");
          ws.close(4008, "handshake timeout");
        }
      });
    });
    ws.addEventListener("message", (e) => {
      if (this.#ws === ws) void this.#onMessage(e.data);
    });
    ws.addEventListener("close", (e) => {
      if (this.#ws !== ws) return;
      this.#ws = undefined;
      const wasReady = this.#state === "ready";
      this.#stopTimers();
      if (this.#state === "stopped") return;
      if (wasReady) this.#log.info("disconnected from gateway", { code: e.code, reason: e.reason });
      else this.#failedToConnect(e.code, e.reason);
      this.#scheduleReconnect();
    });
    ws.addEventListener("error", () => {
      // A close event always follows; reconnecting happens there.
    });
  }

  /**
   * A connection that never got as far as a welcome: a warning that says where and what to
   * check, on the 1st, 2nd, 4th, 8th... failure in a row (the retries back off meanwhile).
   */
  #failedToConnect(code: number, reason: string): void {
    const failures = this.#attempt + 1;
    if ((failures & (failures - 1)) !== 0) return;
    this.#log.warn("gateway unreachable", {
      gateway: this.url.replace(/\?.*$/, ""),
      subnet: this.subnet,
      failures,
      code,
      ...(reason ? { reason } : {}),
      hint: "check --gateway (NCN_GATEWAY) and that the gateway is up; retrying with backoff",
    });
  }

  #scheduleReconnect(): void {
    if (this.#state === "stopped") return;
    this.#state = "connecting";
    const delay = backoffDelay(this.#attempt++, this.#o.backoff ?? DEFAULT_BACKOFF);
    this.#log.debug("reconnecting", { inMs: delay, attempt: this.#attempt });
    this.#later(delay, () => this.#connect());
  }

  #invalid(message: string, taskId?: string): void {
    this.#log.warn("invalid frame from gateway", { error: message });
    const id = taskId === undefined ? {} : { taskId };
    this.#write({ type: "error", code: "FRAME_INVALID", message: message.slice(0, 2000), ...id });
  }

  async #onMessage(data: unknown): Promise<void> {
    const decoded = decodeFrame(GatewayToAgentFrame, data, MAX_FRAME_BYTES);
    if (!decoded.ok) return this.#invalid(decoded.error.shortMessage, decoded.error.field("taskId", TaskId));
    const frame = decoded.frame;
    const taskId = "taskId" in frame ? frame.taskId : undefined;
    try {
      switch (frame.type) {
        case "challenge":
          return await this.#onChallenge(frame);
        case "welcome":
          return this.#onWelcome(frame);
        case "error":
          this.#log.warn("gateway reported an error", {
            code: frame.code,
            error: frame.message,
            taskId: frame.taskId,
          });
          return;
        default:
          if (this.#state !== "ready")
            return this.#invalid(`${frame.type} frame before authentication`, taskId);
          if (frame.type === "task") this.#o.handlers.onTask(this, frame);
          else if (frame.type === "tasks") for (const t of frame.tasks) this.#o.handlers.onTask(this, t);
          else if (frame.type === "cancel") this.#o.handlers.onCancel(this, frame.taskId, frame.reason);
          else if (frame.type === "acks") this.#o.handlers.onAckBatch(this, frame.receiptsRoot);
          else this.#o.handlers.onAck(this, frame.taskId);
          return;
      }
    } catch (e) {
      // A handler bug must not take the link down; report it on the link instead.
      this.#log.error("frame handling failed", { error: e, type: frame.type });
      this.#write({
        type: "error",
        code: "INTERNAL" satisfies ErrorCode,
        message: `agent failed to handle a ${frame.type} frame`,
        ...(taskId === undefined ? {} : { taskId }),
      });
    }
  }

  async #onChallenge(c: v.InferOutput<typeof GatewayToAgentFrame> & { type: "challenge" }): Promise<void> {
    if (this.#state !== "authenticating") return this.#invalid("unexpected challenge");
    const dialled = new URL(this.#o.gateway).host;
    const named = URL.canParse(c.gateway) && c.gateway.includes("//") ? new URL(c.gateway).host : c.gateway;
    if (named !== dialled) {
      // Signing for another gateway would let this one replay the signature there.
      this.#log.error("challenge names another gateway; not signing", { gateway: c.gateway, dialled });
      this.#ws?.close(4003, "challenge for another gateway");
      return;
    }
    const pinned = this.#o.pinnedDomain;
    if (
      pinned &&
      (c.chainId !== pinned.chainId || c.verifyingContract.toLowerCase() !== pinned.verifyingContract)
    ) {
      // Receipts signed for another chain or contract are worth nothing here, or could be
      // spent somewhere the operator never agreed to: refuse before signing anything.
      this.#refusal = new AgentError(
        "FORBIDDEN",
        `gateway asks for receipts on chain ${c.chainId}, contract ${c.verifyingContract}; this agent signs only for chain ${pinned.chainId}, contract ${pinned.verifyingContract}`,
        { details: { chainId: c.chainId, verifyingContract: c.verifyingContract, pinned } },
      );
      this.#domain = undefined;
      this.#log.error("gateway names another signing domain; not signing", { error: this.#refusal });
      for (const w of this.#readyWaiters.splice(0)) w.reject(this.#refusal);
      this.#ws?.close(4003, "signing domain not the configured one");
      return;
    }
    this.#domain = ncnDomain(c.chainId, c.verifyingContract);
    const signature = await this.#o.account.signMessage({ message: authMessage(c.nonce, c.gateway) });
    const pending = this.#o.handlers.pending(this.subnet).slice(0, AGENT_LIMITS.pending);
    this.#write({
      type: "hello",
      v: AGENT_PROTOCOL_VERSION,
      agent: this.#agent,
      nonce: c.nonce,
      signature: v.parse(Signature, signature),
      subnets: [this.subnet],
      capabilities: this.#o.handlers.capabilities(),
      ...(pending.length > 0 ? { pending } : {}),
    });
  }

  #onWelcome(w: v.InferOutput<typeof GatewayToAgentFrame> & { type: "welcome" }): void {
    if (this.#state !== "authenticating" || !this.#domain) {
      this.#invalid("unexpected welcome");
      return;
    }
    if (w.agent !== this.#o.account.address.toLowerCase()) {
      this.#invalid("welcome names another agent");
      return;
    }
    this.#state = "ready";
    this.#refusal = undefined;
    this.registries = w.registries ?? [];
    this.#attempt = 0;
    this.#connects++;
    this.#log.info("connected to gateway", { heartbeatMs: w.heartbeatMs, connects: this.#connects });
    this.#heartbeat = setInterval(() => {
      const hb = this.#o.handlers.heartbeat();
      this.send({
        type: "heartbeat",
        load: hb.load,
        ...(hb.cachedModels ? { cachedModels: hb.cachedModels } : {}),
      });
    }, w.heartbeatMs);
    for (const r of this.#readyWaiters.splice(0)) r.resolve();
    this.#o.handlers.onReady(this);
  }
}

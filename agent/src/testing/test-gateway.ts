import {
  Address,
  AGENT_PROTOCOL_VERSION,
  AgentToGatewayFrame as AgentFrameSchema,
  type AgentToGatewayFrame,
  authMessage,
  Bytes32,
  type GatewayToAgentFrame,
  MAX_FRAME_BYTES,
} from "@ncn/protocol";
import type { ServerWebSocket } from "bun";
import * as v from "valibot";
import { bytesToHex, recoverMessageAddress } from "viem";

interface Conn {
  id: number;
  nonce: Bytes32;
  agent?: `0x${string}`;
  subnet: string;
}

export interface ReceivedFrame {
  conn: number;
  /** The parsed frame, or the raw text when it did not parse. */
  frame: AgentToGatewayFrame | { type: "unparsed"; text: string };
  /** For hello frames: the address the signature recovers to. */
  signer?: string;
}

export interface TestGatewayOptions {
  chainId?: number;
  verifyingContract?: `0x${string}`;
  heartbeatMs?: number;
  /** Acknowledge every result (`ack`) and every batch of results (`acks`) as it arrives (default true). */
  autoAck?: boolean;
  /** Name the gateway gives in its challenge (default: the host the agent dialled). */
  gatewayName?: string;
}

/**
 * A loopback gateway speaking the agent link protocol, for tests and benchmarks: it
 * challenges, verifies the hello signature, welcomes, records every frame, and lets
 * the caller send tasks (or anything else) and drop connections.
 */
export class TestGateway {
  readonly frames: ReceivedFrame[] = [];
  readonly chainId: number;
  readonly verifyingContract: Address;
  autoAck: boolean;
  readonly #server: ReturnType<typeof Bun.serve<Conn>>;
  readonly #sockets = new Map<number, ServerWebSocket<Conn>>();
  #nextId = 1;
  #waiters: (() => void)[] = [];
  readonly #listeners = new Set<(r: ReceivedFrame) => void>();

  constructor(options: TestGatewayOptions = {}) {
    this.chainId = options.chainId ?? 31337;
    this.verifyingContract = v.parse(
      Address,
      options.verifyingContract ?? "0x5fbdb2315678afecb367f032d93f642f64180aa3",
    );
    this.autoAck = options.autoAck ?? true;
    const heartbeatMs = options.heartbeatMs ?? 1000;
    this.#server = Bun.serve<Conn>({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, server) => {
        const url = new URL(req.url);
        if (url.pathname !== "/v1/agents/connect") return new Response("not found", { status: 404 });
        const nonce = v.parse(Bytes32, bytesToHex(crypto.getRandomValues(new Uint8Array(32))));
        const data: Conn = { id: this.#nextId++, nonce, subnet: url.searchParams.get("subnet") ?? "" };
        return server.upgrade(req, { data }) ? undefined : new Response("upgrade failed", { status: 400 });
      },
      websocket: {
        // As large as the protocol lets either side send (Bun's default is 16 MiB), and room
        // to queue a few such frames: past its limit Bun drops a frame without a word.
        maxPayloadLength: MAX_FRAME_BYTES,
        backpressureLimit: 4 * MAX_FRAME_BYTES,
        open: (ws) => {
          this.#sockets.set(ws.data.id, ws);
          this.#push(ws, {
            type: "challenge",
            v: AGENT_PROTOCOL_VERSION,
            nonce: ws.data.nonce,
            gateway: options.gatewayName ?? this.host,
            chainId: this.chainId,
            verifyingContract: this.verifyingContract,
            serverTime: Date.now(),
          });
        },
        message: async (ws, message) => {
          const text = typeof message === "string" ? message : new TextDecoder().decode(message);
          let parsed: AgentToGatewayFrame | undefined;
          try {
            const r = v.safeParse(AgentFrameSchema, JSON.parse(text));
            if (r.success) parsed = r.output;
          } catch {
            parsed = undefined;
          }
          if (!parsed) {
            this.#record({ conn: ws.data.id, frame: { type: "unparsed", text } });
            return;
          }
          const entry: ReceivedFrame = { conn: ws.data.id, frame: parsed };
          if (parsed.type === "hello") {
            entry.signer = (
              await recoverMessageAddress({
                message: authMessage(ws.data.nonce, options.gatewayName ?? this.host),
                signature: parsed.signature,
              })
            ).toLowerCase();
            if (entry.signer === parsed.agent && parsed.nonce === ws.data.nonce) {
              ws.data.agent = parsed.agent;
              this.#push(ws, { type: "welcome", agent: parsed.agent, heartbeatMs });
            } else {
              this.#push(ws, { type: "error", code: "UNAUTHORIZED", message: "bad signature" });
              ws.close(4003, "authentication failed");
            }
          }
          if (parsed.type === "result" && this.autoAck)
            this.#push(ws, { type: "ack", taskId: parsed.taskId });
          if (parsed.type === "results" && this.autoAck)
            this.#push(ws, { type: "acks", receiptsRoot: parsed.receiptsRoot });
          this.#record(entry);
        },
        close: (ws) => {
          this.#sockets.delete(ws.data.id);
          this.#wake();
        },
      },
    });
  }

  /** host:port the server listens on. */
  get host(): string {
    return `127.0.0.1:${this.#server.port}`;
  }

  /** Base URL for the agent's `--gateway`. */
  get url(): string {
    return `ws://${this.host}`;
  }

  /** Ids of the connections that completed authentication and are still open. */
  authenticated(): number[] {
    return [...this.#sockets.values()].filter((s) => s.data.agent).map((s) => s.data.id);
  }

  /** Sends a frame (or raw text, or binary bytes) on the newest authenticated connection. */
  send(frame: GatewayToAgentFrame | string | Uint8Array, conn?: number): void {
    const id = conn ?? this.authenticated().at(-1);
    const ws = id === undefined ? undefined : this.#sockets.get(id);
    if (!ws) throw new Error("no authenticated agent connection");
    const data = typeof frame === "string" || frame instanceof Uint8Array ? frame : JSON.stringify(frame);
    // Bun answers 0 for a dropped frame (and for an empty one, which is sent).
    if (ws.send(data) === 0 && data.length > 0)
      throw new Error("the frame was dropped (socket closed or backpressure limit)");
  }

  /** Closes every agent connection from the server side. */
  dropAll(code = 1012, reason = "gateway restarting"): void {
    for (const ws of this.#sockets.values()) ws.close(code, reason);
  }

  /** Calls `listener` with every frame as it is recorded; returns the unsubscribe function. */
  onFrame(listener: (r: ReceivedFrame) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Frames received so far matching `pred`. */
  received<T extends AgentToGatewayFrame["type"]>(
    type: T,
    pred: (f: Extract<AgentToGatewayFrame, { type: T }>, r: ReceivedFrame) => boolean = () => true,
  ): Extract<AgentToGatewayFrame, { type: T }>[] {
    return this.frames
      .filter((r) => r.frame.type === type && pred(r.frame as Extract<AgentToGatewayFrame, { type: T }>, r))
      .map((r) => r.frame as Extract<AgentToGatewayFrame, { type: T }>);
  }

  /** Waits for a frame of `type` matching `pred` (including ones already received). */
  async waitFor<T extends AgentToGatewayFrame["type"]>(
    type: T,
    pred: (f: Extract<AgentToGatewayFrame, { type: T }>, r: ReceivedFrame) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<Extract<AgentToGatewayFrame, { type: T }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.received(type, pred)[0];
      if (hit) return hit;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type} frame within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Waits until `cond` holds (checked whenever a frame or close arrives). */
  async until(cond: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`condition not met within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 50));
        this.#waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  async stop(): Promise<void> {
    this.dropAll(1001, "test gateway stopping");
    await this.#server.stop(true);
  }

  #push(ws: ServerWebSocket<Conn>, frame: GatewayToAgentFrame): void {
    ws.send(JSON.stringify(frame));
  }

  #record(r: ReceivedFrame): void {
    this.frames.push(r);
    for (const l of this.#listeners) l(r);
    this.#wake();
  }

  #wake(): void {
    for (const w of this.#waiters.splice(0)) w();
  }
}

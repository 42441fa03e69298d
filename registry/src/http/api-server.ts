import type { Startable } from "@libp2p/interface";
import type { Multiaddr } from "@multiformats/multiaddr";
import type { Server } from "bun";
import { UnavailableError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import type { IndexSync } from "../p2p/index-sync-service.ts";
import { SCHEMA_VERSION } from "../store/database.ts";
import type { ApiDeps } from "./api-deps.ts";
import { createApp } from "./app.ts";
import { DEFAULT_SOCKET_LIMITS, type SocketLimits, SocketSlots } from "./socket-limits.ts";
import {
  upgradeValidationSocket,
  VALIDATE_SOCKET_PATH,
  type ValidationSocketData,
  type ValidationSocketStats,
  validationSocketHandlers,
} from "./validate-socket.ts";

export interface ApiServerInit {
  host: string;
  /** 0 picks a free port. */
  port: number;
  /** Limits of the validation sockets; `DEFAULT_SOCKET_LIMITS` where not given. */
  socketLimits?: Partial<SocketLimits> | undefined;
}

/** The parts of libp2p that `/health` reports. */
export interface HealthLibp2p {
  readonly peerId: { toString(): string };
  getMultiaddrs(): Multiaddr[];
  getPeers(): unknown[];
  readonly services: {
    readonly dht: { readonly routingTable: { readonly size: number } };
    readonly indexSync: Pick<IndexSync, "stats">;
  };
}

/** The parts of the node this service uses: what the routes read or drive, and node facts for `/health`. */
export interface ApiServerComponents extends Omit<ApiDeps, "health" | "log"> {
  libp2p: HealthLibp2p;
  /** DHT records the node's validator refused. */
  dhtStats: { readonly rejected: number };
  logger: Logger;
}

/**
 * The HTTP API (hono) on `Bun.serve`, and the WebSocket gateways keep open for validation
 * (see `validate-socket.ts`). Stopping closes every connection.
 */
export class ApiServer implements Startable {
  private readonly components: ApiServerComponents;
  private readonly init: ApiServerInit;
  private readonly startedAt = Date.now();
  private readonly socketStats: ValidationSocketStats = { opened: 0, refused: 0, closedByLimit: 0 };
  private readonly socketLimits: SocketLimits;
  private readonly socketSlots: SocketSlots;
  private readonly app: ReturnType<typeof createApp>;
  private server: Server<ValidationSocketData> | undefined;

  constructor(components: ApiServerComponents, init: ApiServerInit) {
    this.components = components;
    this.init = init;
    this.socketLimits = { ...DEFAULT_SOCKET_LIMITS, ...init.socketLimits };
    this.socketSlots = new SocketSlots(this.socketLimits);
    const c = components;
    this.app = createApp({
      index: c.index,
      records: c.records,
      gossip: c.gossip,
      reputation: c.reputation,
      validation: c.validation,
      gatewayAuth: c.gatewayAuth,
      mempool: c.mempool,
      attestations: c.attestations,
      validatorSet: c.validatorSet,
      log: c.logger.child("http"),
      health: () => this.health(),
    });
  }

  /** Base URL of the API, e.g. `http://127.0.0.1:4747`; known once started. */
  get url(): string {
    if (!this.server) throw new UnavailableError("the API server is not running");
    const host = this.init.host.includes(":") ? `[${this.init.host}]` : this.init.host;
    return `http://${host}:${this.server.port}`;
  }

  /** Answers one API request in-process: the handler the server runs (socket upgrades aside). */
  async fetch(req: Request): Promise<Response> {
    return this.app.fetch(req);
  }

  start(): void {
    if (this.server) return;
    const { gatewayAuth, validation } = this.components;
    this.server = Bun.serve<ValidationSocketData>({
      hostname: this.init.host,
      port: this.init.port,
      fetch: (req, srv) => {
        // Gateways keep a validation socket open (see validate-socket.ts); all else is the API.
        if (
          req.headers.get("upgrade")?.toLowerCase() === "websocket" &&
          new URL(req.url).pathname === VALIDATE_SOCKET_PATH
        ) {
          return upgradeValidationSocket(req, srv, gatewayAuth, this.socketSlots, this.socketStats);
        }
        return this.app.fetch(req);
      },
      websocket: validationSocketHandlers(validation, {
        slots: this.socketSlots,
        limits: this.socketLimits,
        stats: this.socketStats,
      }),
    });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    await server?.stop(true);
  }

  private health(): Record<string, unknown> {
    const { libp2p, dhtStats, mempool } = this.components;
    return {
      peerId: libp2p.peerId.toString(),
      addresses: libp2p.getMultiaddrs().map((a) => a.toString()),
      peers: libp2p.getPeers().length,
      routingTable: libp2p.services.dht.routingTable.size,
      uptimeMs: Date.now() - this.startedAt,
      schemaVersion: SCHEMA_VERSION,
      dht: { rejected: dhtStats.rejected },
      indexSync: libp2p.services.indexSync.stats,
      mempool: mempool.list().length,
      validationSockets: { ...this.socketStats, open: this.socketSlots.open },
    };
  }
}

/**
 * @example const api = apiServer({ host: "127.0.0.1", port: 0 })({ ...components, records, mempool })
 */
export function apiServer(init: ApiServerInit): (components: ApiServerComponents) => ApiServer {
  return (components) => new ApiServer(components, init);
}

import type { AbortOptions, Connection, PeerId, Startable, Stream, Topology } from "@libp2p/interface";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import { SYNC_PEERS, SYNC_PROTOCOL } from "../constants.ts";
import type { Logger } from "../logger.ts";
import type { RecordIndex } from "../records/record-index.ts";
import { pullIndex } from "./index-sync-client.ts";
import { indexSyncHandler } from "./index-sync-handler.ts";

export interface IndexSyncInit {
  index: RecordIndex;
  log: Logger;
  /** Owners of subnet and model names (the chain), when the node reads one. */
  names?: NameOwnerReader | undefined;
  /** Peers to pull from after start. */
  peers?: number;
}

/** The parts of libp2p this service uses (declared, as js-libp2p services do). */
export interface IndexSyncComponents {
  registrar: {
    handle(
      protocol: string,
      handler: (stream: Stream, connection: Connection) => void | Promise<void>,
      options?: { maxInboundStreams?: number },
    ): Promise<void>;
    unhandle(protocol: string): Promise<void>;
    register(protocol: string, topology: Topology): Promise<string>;
    unregister(id: string): void;
  };
  connectionManager: {
    openStream(peer: PeerId, protocol: string, options?: AbortOptions): Promise<Stream>;
  };
}

/**
 * `/ncn/index-sync/1.0.0`: serves this node's record index, and pulls the index of the
 * first few peers that connect, so a node that joins (or rejoins) can list what was
 * published before it arrived. The DHT alone cannot: it has no listing operation.
 */
export class IndexSync implements Startable {
  private readonly components: IndexSyncComponents;
  private readonly init: IndexSyncInit;
  private readonly synced = new Set<string>();
  private topologyId: string | undefined;
  private controller = new AbortController();
  readonly stats = { pulls: 0, received: 0, indexed: 0, refused: 0 };

  constructor(components: IndexSyncComponents, init: IndexSyncInit) {
    this.components = components;
    this.init = init;
  }

  async start(): Promise<void> {
    this.controller = new AbortController();
    await this.components.registrar.handle(SYNC_PROTOCOL, indexSyncHandler(this.init.index, this.init.log), {
      maxInboundStreams: 4,
    });
    this.topologyId = await this.components.registrar.register(SYNC_PROTOCOL, {
      onConnect: (peer) => this.onConnect(peer),
    });
  }

  async stop(): Promise<void> {
    this.controller.abort();
    if (this.topologyId) this.components.registrar.unregister(this.topologyId);
    await this.components.registrar.unhandle(SYNC_PROTOCOL);
  }

  private onConnect(peer: PeerId): void {
    const id = peer.toString();
    if (
      this.synced.size >= (this.init.peers ?? SYNC_PEERS) ||
      this.synced.has(id) ||
      this.controller.signal.aborted
    ) {
      return;
    }
    this.synced.add(id);
    const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(30_000)]);
    pullIndex(
      (options) => this.components.connectionManager.openStream(peer, SYNC_PROTOCOL, options),
      this.init.index,
      {
        log: this.init.log,
        peer: id,
        signal,
        names: this.init.names,
      },
    )
      .then((r) => {
        this.stats.pulls++;
        this.stats.received += r.received;
        this.stats.indexed += r.indexed;
        this.stats.refused += r.refused;
        this.init.log.debug("index synced", { peer: id, ...r });
      })
      .catch((e: unknown) => {
        this.synced.delete(id);
        this.init.log.debug("index sync failed", { peer: id, err: e });
      });
  }
}

/**
 * @example createLibp2p({ services: { indexSync: indexSync({ index, log }) } })
 */
export function indexSync(init: IndexSyncInit): (components: IndexSyncComponents) => IndexSync {
  return (components) => new IndexSync(components, init);
}

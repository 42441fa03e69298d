import type { AbortOptions, Connection, Libp2pEvents, PeerId, Startable } from "@libp2p/interface";
import type { KadDHT } from "@libp2p/kad-dht";
import { type Multiaddr, multiaddr } from "@multiformats/multiaddr";
import {
  BOOTSTRAP_REDIAL_MS,
  CONVERGE_DEBOUNCE_MS,
  CONVERGE_MAX_PEER_TRIGGERED,
  CONVERGE_WARMUP_MS,
} from "../constants.ts";
import type { Logger } from "../logger.ts";

export interface ConvergeInit {
  /** Re-dialled whenever the node has no connection at all (a failed first dial, or every peer gone). */
  bootstrap: readonly string[];
  /** How long after start new peers trigger a lookup of our own id. */
  warmupMs?: number;
  /** Waits this long after the last new peer before looking up (peers arrive in bursts). */
  debounceMs?: number;
  /** At most this many lookups triggered by new peers (each one queries many peers). */
  maxPeerTriggered?: number;
  /** How often to check for isolation. */
  redialMs?: number;
}

/** The parts of libp2p this service uses. */
export interface ConvergeComponents {
  libp2p: {
    readonly peerId: PeerId;
    addEventListener(type: "peer:identify", listener: (event: Libp2pEvents["peer:identify"]) => void): void;
    removeEventListener(
      type: "peer:identify",
      listener: (event: Libp2pEvents["peer:identify"]) => void,
    ): void;
    getConnections(): Connection[];
    dial(peer: Multiaddr, options?: AbortOptions): Promise<Connection>;
  };
  dht: Pick<KadDHT, "getClosestPeers">;
  logger: Logger;
}

/**
 * Speeds up joining: kad-dht looks up its own id once a second after start and then every
 * few minutes, so nodes that start together (each asking the bootstrap node before it knows
 * the others) may miss each other for minutes. While warming up, self-lookups run after
 * the first newly identified peers and on a doubling schedule (1, 2, 4... s), which
 * introduces us to the peers closest to us. An isolated node keeps re-dialling its bootstrap peers.
 */
export class ConvergeOnJoin implements Startable {
  private readonly components: ConvergeComponents;
  private readonly init: ConvergeInit;
  private readonly log: Logger;
  private controller = new AbortController();
  private until = 0;
  private debounce: ReturnType<typeof setTimeout> | undefined;
  private backoff: ReturnType<typeof setTimeout> | undefined;
  private redial: ReturnType<typeof setInterval> | undefined;
  private lookupRunning = false;
  private lookupAgain = false;
  private triggered = 0;
  private readonly onPeer = () => this.peerIdentified();

  constructor(components: ConvergeComponents, init: ConvergeInit) {
    this.components = components;
    this.init = init;
    this.log = components.logger.child("dht");
  }

  get running(): boolean {
    return this.redial !== undefined;
  }

  start(): void {
    if (this.redial) return;
    this.controller = new AbortController();
    this.until = Date.now() + (this.init.warmupMs ?? CONVERGE_WARMUP_MS);
    this.triggered = 0;
    this.components.libp2p.addEventListener("peer:identify", this.onPeer);
    this.schedule(1_000);
    this.redial = setInterval(() => this.redialIfIsolated(), this.init.redialMs ?? BOOTSTRAP_REDIAL_MS);
    this.redial.unref?.();
  }

  stop(): void {
    this.controller.abort();
    clearTimeout(this.debounce);
    clearTimeout(this.backoff);
    clearInterval(this.redial);
    this.redial = undefined;
    this.components.libp2p.removeEventListener("peer:identify", this.onPeer);
  }

  private async lookup(): Promise<void> {
    if (this.lookupRunning) {
      this.lookupAgain = true;
      return;
    }
    this.lookupRunning = true;
    const { libp2p, dht } = this.components;
    try {
      const signal = AbortSignal.any([this.controller.signal, AbortSignal.timeout(5_000)]);
      for await (const _ of dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, { signal })) {
        // Draining the query is what fills the routing table.
      }
    } catch (e) {
      this.log.debug("self lookup ended early", { err: e });
    } finally {
      this.lookupRunning = false;
      if (this.lookupAgain && !this.controller.signal.aborted) {
        this.lookupAgain = false;
        void this.lookup();
      }
    }
  }

  private peerIdentified(): void {
    const max = this.init.maxPeerTriggered ?? CONVERGE_MAX_PEER_TRIGGERED;
    if (Date.now() > this.until || this.controller.signal.aborted || this.triggered >= max) return;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.triggered++;
      void this.lookup();
    }, this.init.debounceMs ?? CONVERGE_DEBOUNCE_MS);
  }

  private schedule(delay: number): void {
    if (Date.now() + delay > this.until || this.controller.signal.aborted) return;
    this.backoff = setTimeout(() => {
      void this.lookup();
      this.schedule(delay * 2);
    }, delay);
  }

  private redialIfIsolated(): void {
    const { libp2p } = this.components;
    if (this.controller.signal.aborted || libp2p.getConnections().length > 0) return;
    for (const addr of this.init.bootstrap) {
      libp2p
        .dial(multiaddr(addr), {
          signal: AbortSignal.any([this.controller.signal, AbortSignal.timeout(5_000)]),
        })
        .catch((e: unknown) => this.log.debug("bootstrap redial failed", { addr, err: e }));
    }
  }
}

/**
 * @example const converge = convergeOnJoin({ bootstrap })({ libp2p, dht: libp2p.services.dht, logger })
 */
export function convergeOnJoin(init: ConvergeInit): (components: ConvergeComponents) => ConvergeOnJoin {
  return (components) => new ConvergeOnJoin(components, init);
}

import { multiaddr } from "@multiformats/multiaddr";
import type { Logger } from "../logger.ts";
import type { RegistryLibp2p } from "./create-libp2p.ts";

export interface ConvergeOptions {
  /** How long after start new peers trigger a lookup of our own id. */
  warmupMs: number;
  /** Waits this long after the last new peer before looking up (peers arrive in bursts). */
  debounceMs: number;
  /** At most this many lookups triggered by new peers (each one queries many peers). */
  maxPeerTriggered: number;
  /** Re-dialled whenever the node has no connection at all (a failed first dial, or every peer gone). */
  bootstrap: readonly string[];
  /** How often to check for isolation. */
  redialMs: number;
  log: Logger;
}

/**
 * Speeds up joining: kad-dht looks up its own id once a second after start and then every
 * few minutes, so nodes that start together (each asking the bootstrap node before it knows
 * the others) may miss each other for minutes. While warming up, self-lookups run after
 * the first newly identified peers and on a doubling schedule (1, 2, 4... s), which
 * introduces us to the peers closest to us. An isolated node keeps re-dialling its bootstrap peers.
 * Returns a function that stops it.
 */
export function convergeOnJoin(libp2p: RegistryLibp2p, options: ConvergeOptions): () => void {
  const until = Date.now() + options.warmupMs;
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  const lookup = async () => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    try {
      const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(5_000)]);
      for await (const _ of libp2p.services.dht.getClosestPeers(libp2p.peerId.toMultihash().bytes, {
        signal,
      })) {
        // Draining the query is what fills the routing table.
      }
    } catch (e) {
      options.log.debug("self lookup ended early", { err: e });
    } finally {
      running = false;
      if (again && !controller.signal.aborted) {
        again = false;
        void lookup();
      }
    }
  };
  let triggered = 0;
  const onPeer = () => {
    if (Date.now() > until || controller.signal.aborted || triggered >= options.maxPeerTriggered) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      triggered++;
      void lookup();
    }, options.debounceMs);
  };
  libp2p.addEventListener("peer:identify", onPeer);
  let backoff: ReturnType<typeof setTimeout> | undefined;
  const scheduled = (delay: number) => {
    if (Date.now() + delay > until || controller.signal.aborted) return;
    backoff = setTimeout(() => {
      void lookup();
      scheduled(delay * 2);
    }, delay);
  };
  scheduled(1_000);
  const redial = setInterval(() => {
    if (controller.signal.aborted || libp2p.getConnections().length > 0) return;
    for (const addr of options.bootstrap) {
      libp2p
        .dial(multiaddr(addr), { signal: AbortSignal.any([controller.signal, AbortSignal.timeout(5_000)]) })
        .catch((e: unknown) => options.log.debug("bootstrap redial failed", { addr, err: e }));
    }
  }, options.redialMs);
  redial.unref?.();
  return () => {
    controller.abort();
    clearTimeout(timer);
    clearTimeout(backoff);
    clearInterval(redial);
    libp2p.removeEventListener("peer:identify", onPeer);
  };
}

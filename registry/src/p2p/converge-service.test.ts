import { afterEach, describe, expect, test } from "bun:test";
import type { Connection } from "@libp2p/interface";
import type { QueryEvent } from "@libp2p/kad-dht";
import { peerIdFromString } from "@libp2p/peer-id";
import type { Multiaddr } from "@multiformats/multiaddr";
import { quietLogger } from "../test-support/cluster.ts";
import { type ConvergeOnJoin, convergeOnJoin } from "./converge-service.ts";

const BOOTSTRAP = "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
const services: ConvergeOnJoin[] = [];
afterEach(() => {
  for (const s of services.splice(0)) s.stop();
});

/** An isolated node: no connections, every dial fails, every lookup ends at once. */
function isolated(init: { warmupMs?: number; debounceMs?: number; maxPeerTriggered?: number }) {
  const dials: string[] = [];
  const lookups: AbortSignal[] = [];
  let listener: (() => void) | undefined;
  const connections: Connection[] = [];
  const service = convergeOnJoin({ bootstrap: [BOOTSTRAP], redialMs: 20, ...init })({
    libp2p: {
      peerId: peerIdFromString("12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN"),
      addEventListener: (_type, l) => {
        listener = () => l(new CustomEvent("peer:identify"));
      },
      removeEventListener: () => {
        listener = undefined;
      },
      getConnections: () => connections,
      dial: async (addr: Multiaddr) => {
        dials.push(addr.toString());
        throw new Error("unreachable");
      },
    },
    dht: {
      async *getClosestPeers(_key, options): AsyncGenerator<QueryEvent> {
        if (options?.signal) lookups.push(options.signal);
        // A lookup that finds no peer.
        yield* [];
      },
    },
    logger: quietLogger(),
  });
  services.push(service);
  return { service, dials, lookups, identify: () => listener?.() };
}

describe("converging on join", () => {
  test("an isolated node re-dials its bootstrap peers until it stops; stop is idempotent", async () => {
    const { service, dials } = isolated({ warmupMs: 0 });
    service.start();
    service.start();
    await Bun.sleep(110);
    expect(dials.length).toBeGreaterThanOrEqual(2);
    expect(dials.every((d) => d === BOOTSTRAP)).toBe(true);
    service.stop();
    service.stop();
    expect(service.running).toBe(false);
    const after = dials.length;
    await Bun.sleep(80);
    expect(dials.length).toBe(after);
  });

  test("while warming up, bursts of new peers trigger a self-lookup each, at most maxPeerTriggered", async () => {
    const { service, lookups, identify } = isolated({
      warmupMs: 10_000,
      debounceMs: 10,
      maxPeerTriggered: 2,
    });
    service.start();
    for (let burst = 0; burst < 4; burst++) {
      identify();
      identify();
      await Bun.sleep(40);
    }
    expect(lookups).toHaveLength(2);
    service.stop();
    identify();
    await Bun.sleep(40);
    expect(lookups).toHaveLength(2);
  });
});

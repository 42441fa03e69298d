import { bootstrap } from "@libp2p/bootstrap";
import { type GossipSub, gossipsub } from "@libp2p/gossipsub";
import { type Identify, identify } from "@libp2p/identify";
import type { PrivateKey } from "@libp2p/interface";
import {
  type KadDHT,
  type KadDHTComponents,
  type KadDHTInit,
  kadDHT,
  passthroughMapper,
  type SingleKadDHT,
} from "@libp2p/kad-dht";
import { noise } from "@libp2p/noise";
import { type Ping, ping } from "@libp2p/ping";
import { yamux } from "@libp2p/yamux";
import { createLibp2p, type Libp2p } from "libp2p";
import { DHT_NAMESPACE, DHT_PROTOCOL, DHT_QUERY_SELF_INTERVAL_MS, MAX_GOSSIP_BYTES } from "../constants.ts";
import { RegistryError } from "../errors.ts";
import { GOSSIP_SCORE_THRESHOLDS, gossipScoreParams } from "./gossip-scoring.ts";
import { type IndexSync, type IndexSyncInit, indexSync } from "./index-sync-service.ts";
import { noiseCrypto } from "./noise-crypto.ts";
import { abortSafeTcp } from "./tcp-transport.ts";

export type RegistryServices = {
  identify: Identify;
  ping: Ping;
  dht: SingleKadDHT;
  pubsub: GossipSub;
  indexSync: IndexSync;
};

export type RegistryLibp2p = Libp2p<RegistryServices>;

export interface CreateLibp2pInit {
  privateKey: PrivateKey;
  listen: string[];
  bootstrap: string[];
  validate: (key: Uint8Array, value: Uint8Array) => Promise<void>;
  select: (key: Uint8Array, values: Uint8Array[]) => number;
  sync: IndexSyncInit;
}

/**
 * The registry's libp2p stack: TCP (a WebSocket listener never stops under Bun) whose aborted
 * dials leave no orphaned socket error, noise (with a cipher Bun has, see `noise-crypto.ts`), yamux, identify, ping, bootstrap, a Kademlia
 * DHT that works on loopback and private addresses, gossipsub, and the registry's index sync.
 */
export async function createRegistryLibp2p(init: CreateLibp2pInit): Promise<RegistryLibp2p> {
  return createLibp2p({
    privateKey: init.privateKey,
    start: false,
    addresses: { listen: init.listen },
    transports: [abortSafeTcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto() })],
    streamMuxers: [yamux()],
    peerDiscovery: init.bootstrap.length > 0 ? [bootstrap({ list: init.bootstrap, timeout: 10 })] : [],
    services: {
      identify: identify(),
      ping: ping(),
      dht: singleKadDHT({
        protocol: DHT_PROTOCOL,
        // Registry nodes run on private networks and loopback too: always answer queries and
        // keep private addresses, or routing tables stay empty there.
        clientMode: false,
        peerInfoMapper: passthroughMapper,
        // A lone node answers from its own store at once instead of waiting for a first peer.
        allowQueryWithZeroPeers: true,
        querySelfInterval: DHT_QUERY_SELF_INTERVAL_MS,
        validators: { [DHT_NAMESPACE]: init.validate },
        selectors: { [DHT_NAMESPACE]: init.select },
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        emitSelf: false,
        maxInboundDataLength: MAX_GOSSIP_BYTES,
        // Peers whose messages the topic validators reject lose score until they are graylisted.
        scoreParams: gossipScoreParams(),
        scoreThresholds: GOSSIP_SCORE_THRESHOLDS,
      }),
      indexSync: indexSync(init.sync),
    },
  });
}

function hasRoutingTable(dht: KadDHT): dht is SingleKadDHT {
  return "routingTable" in dht;
}

/**
 * kad-dht's factory promises only `KadDHT`, yet its one implementation (a single DHT, not
 * the Amino LAN/WAN pair) keeps a routing table: checked once here, so every reader of the
 * table's size is typed.
 */
function singleKadDHT(init: KadDHTInit): (components: KadDHTComponents) => SingleKadDHT {
  const create = kadDHT(init);
  return (components) => {
    const dht = create(components);
    if (!hasRoutingTable(dht)) throw new RegistryError("INTERNAL", "kad-dht has no routing table");
    return dht;
  };
}

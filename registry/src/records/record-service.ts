import type { Startable } from "@libp2p/interface";
import type { KadDHT } from "@libp2p/kad-dht";
import { type RecordKind, recordDhtKey, type SignedRecord } from "@ncn/protocol";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import { DHT_TIMEOUT_MS, PUBLISH_DHT_WAIT_MS, TOPIC_HEARTBEAT, TOPIC_RECORDS } from "../constants.ts";
import type { GossipService } from "../gossip/gossip-service.ts";
import { heartbeatHandler } from "../gossip/handlers/heartbeat.ts";
import { recordsHandler } from "../gossip/handlers/records.ts";
import type { Logger } from "../logger.ts";
import { checkRecord, decodeRecordValue, encodeRecord } from "./check-record.ts";
import type { RecordIndex, UpsertResult } from "./record-index.ts";

const encoder = new TextEncoder();

export interface PublishResult {
  record: SignedRecord;
  result: UpsertResult;
  /** Peers that confirmed storing the record in the DHT; null if the put is still running. */
  dhtPeers: number | null;
  /** Peers the announcement was gossiped to. */
  gossipPeers: number;
}

/** The parts of the node this service uses. */
export interface RecordServiceComponents {
  index: RecordIndex;
  dht: Pick<KadDHT, "get" | "put">;
  gossip: Pick<GossipService, "publish" | "register" | "unregister">;
  logger: Logger;
  /** Owners of subnet and model names (the chain); without it the first owner seen keeps a name. */
  names?: NameOwnerReader | undefined;
}

/**
 * Publishes and looks up signed records: in the local index (for listing), in the DHT under
 * `/ncn/<kind>/<key>` (for lookups by key from any node), and announced on gossip. Handles
 * the record announcements and agent heartbeats gossiped by others.
 */
export class RecordService implements Startable {
  private readonly components: RecordServiceComponents;
  private readonly log: Logger;

  constructor(components: RecordServiceComponents) {
    this.components = components;
    this.log = components.logger.child("records");
  }

  start(): void {
    this.components.gossip.register(heartbeatHandler(this.components.index));
    this.components.gossip.register(recordsHandler(this.components.index, this.components.names));
  }

  stop(): void {
    this.components.gossip.unregister(TOPIC_HEARTBEAT);
    this.components.gossip.unregister(TOPIC_RECORDS);
  }

  private names(): { names?: NameOwnerReader } {
    return this.components.names ? { names: this.components.names } : {};
  }

  /** Checks a record, indexes it, stores it in the DHT and announces it. */
  async publish(
    input: unknown,
    options: { own?: boolean; signal?: AbortSignal } = {},
  ): Promise<PublishResult> {
    const record = await checkRecord(input, { index: this.components.index, ...this.names() });
    const result = this.components.index.upsert(record, { own: options.own === true });
    const put = this.dhtPut(record, options.signal);
    const [dhtPeers, gossipPeers] = await Promise.all([
      // A slow DHT must not hold the caller (an agent re-publishing): the put carries on.
      Promise.race([put, Bun.sleep(PUBLISH_DHT_WAIT_MS).then(() => null)]),
      this.components.gossip.publish(TOPIC_RECORDS, record).catch((e: unknown) => {
        this.log.warn("record announcement failed", { kind: record.kind, key: record.key, err: e });
        return 0;
      }),
    ]);
    this.log.info("record published", {
      kind: record.kind,
      key: record.key,
      seq: record.seq,
      dhtPeers,
      result,
    });
    return { record, result, dhtPeers, gossipPeers };
  }

  /** Stores a record in the DHT; returns how many peers confirmed it. */
  async dhtPut(record: SignedRecord, signal?: AbortSignal): Promise<number> {
    const key = encoder.encode(recordDhtKey(record.kind, record.key));
    let stored = 0;
    try {
      const timeout = AbortSignal.timeout(DHT_TIMEOUT_MS);
      for await (const event of this.components.dht.put(key, encodeRecord(record), {
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      })) {
        if (event.name === "PEER_RESPONSE" && event.messageName === "PUT_VALUE") stored++;
      }
    } catch (e) {
      this.log.warn("DHT put incomplete", { kind: record.kind, key: record.key, stored, err: e });
    }
    return stored;
  }

  /**
   * Reads a record from the DHT (the network's newest valid copy); undefined when no peer
   * holds a valid one. What it finds also reaches the index.
   */
  async dhtGet<K extends RecordKind>(
    kind: K,
    key: string,
    signal?: AbortSignal,
  ): Promise<Extract<SignedRecord, { kind: K }> | undefined> {
    const dhtKey = recordDhtKey(kind, key);
    let found: SignedRecord | undefined;
    try {
      const timeout = AbortSignal.timeout(DHT_TIMEOUT_MS);
      for await (const event of this.components.dht.get(encoder.encode(dhtKey), {
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      })) {
        if (event.name !== "VALUE") continue;
        // One peer's bad copy (a taker's record, a forgery) must not hide an honest peer's.
        let record: SignedRecord;
        try {
          record = await checkRecord(decodeRecordValue(event.value), { dhtKey, ...this.names() });
        } catch (e) {
          this.log.debug("DHT value refused", { dhtKey, err: e });
          continue;
        }
        if (!found || record.seq > found.seq) found = record;
      }
    } catch (e) {
      this.log.debug("DHT get failed", { dhtKey, err: e });
    }
    if (found) this.components.index.upsert(found);
    return found as Extract<SignedRecord, { kind: K }> | undefined;
  }

  /** The index's copy, else the DHT's. */
  async lookup<K extends RecordKind>(
    kind: K,
    key: string,
  ): Promise<Extract<SignedRecord, { kind: K }> | undefined> {
    return this.components.index.get(kind, key)?.record ?? (await this.dhtGet(kind, key));
  }

  /** Puts this node's own records back into the DHT (after a restart, and periodically). */
  async republishOwn(signal?: AbortSignal): Promise<number> {
    let n = 0;
    for (const record of this.components.index.ownRecords()) {
      if (signal?.aborted) break;
      try {
        await checkRecord(record, this.names());
      } catch {
        continue;
      }
      await this.dhtPut(record, signal);
      await this.components.gossip.publish(TOPIC_RECORDS, record).catch(() => 0);
      n++;
    }
    return n;
  }
}

/**
 * @example const records = recordService()({ index, dht, gossip, logger, names })
 */
export function recordService(): (components: RecordServiceComponents) => RecordService {
  return (components) => new RecordService(components);
}

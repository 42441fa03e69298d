import { type GossipSub, type Message, TopicValidatorResult } from "@libp2p/gossipsub";
import type { PeerId, Startable } from "@libp2p/interface";
import { BaseError } from "@ncn/protocol";
import * as v from "valibot";
import { MAX_GOSSIP_BYTES, type Topic } from "../constants.ts";
import type { Logger } from "../logger.ts";

/** What a handler decided about a well-formed message. */
export type HandleResult = "accept" | "ignore";

/** One gossip topic: the schema its payloads must match and what to do with them. */
export interface TopicHandler<T> {
  readonly topic: Topic;
  readonly schema: v.GenericSchema<unknown, T>;
  /** Throws a typed error to reject (bad signature, forbidden); returns "ignore" for duplicates. */
  handle(message: T, from: string): Promise<HandleResult>;
}

export interface TopicCounters {
  received: number;
  accepted: number;
  ignored: number;
  /** Not UTF-8 JSON, too large, or failing the topic's schema. */
  malformed: number;
  /** Well-formed but refused (bad signature, stale, forbidden). */
  rejected: number;
  published: number;
}

/** The parts of gossipsub this service uses. */
export type GossipPubSub = Pick<
  GossipSub,
  "topicValidators" | "subscribe" | "unsubscribe" | "publish" | "getSubscribers"
>;

/** What gossipsub's implementation offers beyond its published interface. */
type ScoredGossipSub = GossipPubSub & {
  getScore?: (peerId: string) => number;
  getMeshPeers?: (topic: string) => unknown[];
};

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

/** Codes that mean a message was refused on its merits, not a fault of ours. */
const REJECT_CODES = new Set([
  "INVALID_INPUT",
  "SIGNATURE_INVALID",
  "FORBIDDEN",
  "UNAUTHORIZED",
  "TENSOR_INVALID",
]);

/** The parts of the node this service uses. */
export interface GossipComponents {
  pubsub: GossipPubSub;
  logger: Logger;
}

/**
 * Gossip on the registry's versioned topics. Every payload is UTF-8 JSON parsed with its
 * topic's schema inside gossipsub's topic validator, so malformed and refused messages
 * are neither delivered nor forwarded, and are counted. Each service registers the topics
 * it handles; a topic is subscribed while both this service and its handler run.
 */
export class GossipService implements Startable {
  private readonly pubsub: GossipPubSub;
  private readonly log: Logger;
  private readonly handlers = new Map<Topic, TopicHandler<unknown>>();
  private readonly stats = new Map<Topic, TopicCounters>();
  private running = false;

  constructor(components: GossipComponents) {
    this.pubsub = components.pubsub;
    this.log = components.logger.child("gossip");
  }

  /** Handles a topic from now on (subscribed at once while running, else on `start`). */
  register<T>(handler: TopicHandler<T>): void {
    this.handlers.set(handler.topic, handler as TopicHandler<unknown>);
    if (!this.stats.has(handler.topic)) {
      this.stats.set(handler.topic, {
        received: 0,
        accepted: 0,
        ignored: 0,
        malformed: 0,
        rejected: 0,
        published: 0,
      });
    }
    if (this.running) this.subscribe(handler);
  }

  /** Stops handling a topic (its counters stay). */
  unregister(topic: Topic): void {
    if (!this.handlers.delete(topic)) return;
    if (this.running) this.unsubscribe(topic);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    for (const handler of this.handlers.values()) this.subscribe(handler);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    for (const topic of this.handlers.keys()) this.unsubscribe(topic);
  }

  private subscribe(handler: TopicHandler<unknown>): void {
    this.pubsub.topicValidators.set(handler.topic, (peer, msg) => this.validate(handler, peer, msg));
    this.pubsub.subscribe(handler.topic);
  }

  private unsubscribe(topic: Topic): void {
    this.pubsub.topicValidators.delete(topic);
    try {
      this.pubsub.unsubscribe(topic);
    } catch {
      // libp2p may already be stopping.
    }
  }

  /** Publishes a payload (after checking it against the topic's own schema). */
  async publish(topic: Topic, payload: unknown): Promise<number> {
    const handler = this.handlers.get(topic);
    if (handler && !v.is(handler.schema, payload))
      throw new Error(`refusing to publish a malformed ${topic} message`);
    const bytes = encoder.encode(JSON.stringify(payload));
    if (bytes.byteLength > MAX_GOSSIP_BYTES)
      throw new Error(`gossip payload of ${bytes.byteLength} bytes is too large`);
    const result = await this.pubsub.publish(topic, bytes);
    const c = this.stats.get(topic);
    if (c) c.published++;
    return result.recipients.length;
  }

  counters(): Record<string, TopicCounters> {
    return Object.fromEntries([...this.stats].map(([t, c]) => [t, { ...c }]));
  }

  /** Total malformed messages over every topic. */
  malformedTotal(): number {
    let n = 0;
    for (const c of this.stats.values()) n += c.malformed;
    return n;
  }

  subscribers(topic: Topic): number {
    return this.pubsub.getSubscribers(topic).length;
  }

  /**
   * This node's gossipsub score of a peer: negative once the topic validators rejected what
   * it sent (see `p2p/gossip-scoring.ts`); 0 for a peer it does not know.
   */
  peerScore(peerId: string): number {
    return (this.pubsub as ScoredGossipSub).getScore?.(peerId) ?? 0;
  }

  /** The peers in this node's mesh of a topic (a peer scored below 0 is pruned from it). */
  meshPeers(topic: Topic): string[] {
    return ((this.pubsub as ScoredGossipSub).getMeshPeers?.(topic) ?? []).map(String);
  }

  private async validate(
    handler: TopicHandler<unknown>,
    peer: PeerId,
    msg: Message,
  ): Promise<TopicValidatorResult> {
    const c = this.stats.get(handler.topic);
    if (!c) return TopicValidatorResult.Ignore;
    c.received++;
    let payload: unknown;
    try {
      if (msg.data.byteLength > MAX_GOSSIP_BYTES) throw new Error("too large");
      payload = JSON.parse(decoder.decode(msg.data));
    } catch {
      c.malformed++;
      this.log.debug("dropped malformed gossip", {
        topic: handler.topic,
        from: peer.toString(),
        why: "not JSON",
      });
      return TopicValidatorResult.Reject;
    }
    const parsed = v.safeParse(handler.schema, payload);
    if (!parsed.success) {
      c.malformed++;
      this.log.debug("dropped malformed gossip", {
        topic: handler.topic,
        from: peer.toString(),
        why: parsed.issues[0]?.message,
      });
      return TopicValidatorResult.Reject;
    }
    try {
      const result = await handler.handle(parsed.output, peer.toString());
      if (result === "accept") {
        c.accepted++;
        return TopicValidatorResult.Accept;
      }
      c.ignored++;
      return TopicValidatorResult.Ignore;
    } catch (e) {
      if (e instanceof BaseError && REJECT_CODES.has(e.code)) {
        c.rejected++;
        this.log.debug("refused gossip", { topic: handler.topic, from: peer.toString(), err: e });
        return TopicValidatorResult.Reject;
      }
      if (e instanceof BaseError) {
        c.ignored++;
        this.log.debug("ignored gossip", { topic: handler.topic, from: peer.toString(), err: e });
        return TopicValidatorResult.Ignore;
      }
      c.ignored++;
      this.log.error("gossip handler failed", { topic: handler.topic, err: e });
      return TopicValidatorResult.Ignore;
    }
  }
}

/**
 * @example const gossip = gossipService()({ pubsub: libp2p.services.pubsub, logger })
 */
export function gossipService(): (components: GossipComponents) => GossipService {
  return (components) => new GossipService(components);
}

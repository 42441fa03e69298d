import { describe, expect, test } from "bun:test";
import type { TopicValidatorFn } from "@libp2p/gossipsub";
import * as v from "valibot";
import { TOPIC_HEARTBEAT, TOPIC_RECORDS } from "../constants.ts";
import { quietLogger } from "../test-support/cluster.ts";
import { type GossipPubSub, gossipService, type TopicHandler } from "./gossip-service.ts";

/** gossipsub as far as the service drives it: the topics it is subscribed to, with their validators. */
function pubsub() {
  const subscribed = new Set<string>();
  const topicValidators = new Map<string, TopicValidatorFn>();
  const fake: GossipPubSub = {
    topicValidators,
    subscribe: (topic) => void subscribed.add(topic),
    unsubscribe: (topic) => void subscribed.delete(topic),
    publish: async () => ({ recipients: [] }),
    getSubscribers: () => [],
  };
  return { fake, subscribed, topicValidators };
}

const handler = (topic: typeof TOPIC_HEARTBEAT | typeof TOPIC_RECORDS): TopicHandler<unknown> => ({
  topic,
  schema: v.unknown(),
  handle: async () => "accept",
});

describe("the gossip service", () => {
  test("a topic is subscribed, with its validator, while both the service and the topic's handler run", () => {
    const { fake, subscribed, topicValidators } = pubsub();
    const gossip = gossipService()({ pubsub: fake, logger: quietLogger() });
    gossip.register(handler(TOPIC_HEARTBEAT));
    expect([...subscribed]).toEqual([]);
    gossip.start();
    gossip.start();
    expect([...subscribed]).toEqual([TOPIC_HEARTBEAT]);
    // A service started after gossip registers its topic: subscribed at once.
    gossip.register(handler(TOPIC_RECORDS));
    expect([...subscribed].sort()).toEqual([TOPIC_HEARTBEAT, TOPIC_RECORDS].sort());
    expect([...topicValidators.keys()].sort()).toEqual([TOPIC_HEARTBEAT, TOPIC_RECORDS].sort());
    gossip.unregister(TOPIC_HEARTBEAT);
    expect([...subscribed]).toEqual([TOPIC_RECORDS]);
    expect([...topicValidators.keys()]).toEqual([TOPIC_RECORDS]);
    gossip.stop();
    gossip.stop();
    expect(subscribed.size).toBe(0);
    expect(topicValidators.size).toBe(0);
    // The counters outlive the handlers (what /health reports).
    expect(Object.keys(gossip.counters()).sort()).toEqual([TOPIC_HEARTBEAT, TOPIC_RECORDS].sort());
  });
});

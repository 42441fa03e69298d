import type { PeerScoreParams, PeerScoreThresholds, TopicScoreParams } from "@libp2p/gossipsub/score";
import { GOSSIP_COLOCATION_WHITELIST, TOPICS } from "../constants.ts";

/**
 * How a node scores the peers it gossips with, per topic. Only the messages a topic
 * validator rejects (bad signature, a signer with no right to say it, malformed) cost
 * score, quadratically: one costs -20, two -80, three -180, past the graylist threshold,
 * after which everything the peer sends is dropped unread and it is pruned from every
 * mesh. The count decays by 1% a second (half-life about 70 s), so an honest peer that
 * relayed one message a stale view refused recovers within minutes.
 *
 * Quiet topics are normal here (heartbeats every few seconds, work only when gateways
 * post it), so a mesh peer is not penalised for delivering little (P3/P3b off); time in
 * the mesh and first deliveries earn a little, capped by `topicScoreCap`.
 */
export const GOSSIP_TOPIC_SCORE: TopicScoreParams = {
  topicWeight: 1,
  timeInMeshWeight: 0.01,
  timeInMeshQuantum: 1_000,
  timeInMeshCap: 300,
  firstMessageDeliveriesWeight: 0.5,
  firstMessageDeliveriesDecay: 0.9,
  firstMessageDeliveriesCap: 10,
  meshMessageDeliveriesWeight: 0,
  meshMessageDeliveriesDecay: 0.5,
  meshMessageDeliveriesCap: 100,
  meshMessageDeliveriesThreshold: 1,
  meshMessageDeliveriesWindow: 10,
  meshMessageDeliveriesActivation: 5_000,
  meshFailurePenaltyWeight: 0,
  meshFailurePenaltyDecay: 0.5,
  invalidMessageDeliveriesWeight: -20,
  invalidMessageDeliveriesDecay: 0.99,
};

/** Peer scoring of the registry's gossip: every topic scored as above. */
export function gossipScoreParams(): Partial<PeerScoreParams> {
  return {
    topics: Object.fromEntries(TOPICS.map((topic) => [topic, GOSSIP_TOPIC_SCORE])),
    topicScoreCap: 10,
    // Every node of a devnet (and of the tests) shares loopback: gossipsub's penalty for more
    // than 10 peers behind one IP would push all of them below the publish threshold.
    IPColocationFactorWhitelist: new Set(GOSSIP_COLOCATION_WHITELIST),
  };
}

/**
 * Below -10 a peer's gossip (IHAVE/IWANT) is ignored, below -50 nothing is published to it,
 * at -80 or less it is graylisted: its messages are dropped before any validation runs.
 */
export const GOSSIP_SCORE_THRESHOLDS: Partial<PeerScoreThresholds> = {
  gossipThreshold: -10,
  publishThreshold: -50,
  graylistThreshold: -80,
  acceptPXThreshold: 10,
  opportunisticGraftThreshold: 5,
};

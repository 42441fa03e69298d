import type { VerifyTolerance } from "@ncn/runtime/causal-lm";

/** Versioned libp2p protocol ids and gossip topics of the registry network. */
export const DHT_PROTOCOL = "/ncn/kad/1.0.0";
/** Pulls a peer's record index when joining (the DHT cannot list). */
export const SYNC_PROTOCOL = "/ncn/index-sync/1.0.0";
/** Peers a node pulls the index from after it starts. */
export const SYNC_PEERS = 3;
/** Largest single line of an index sync (one signed record). */
export const MAX_SYNC_LINE_BYTES = 64 * 1024;
/** DHT namespace of every registry record: keys are `/ncn/<kind>/<key>`. */
export const DHT_NAMESPACE = "ncn";

export const TOPIC_HEARTBEAT = "/ncn/heartbeat/1";
export const TOPIC_RECORDS = "/ncn/records/1";
export const TOPIC_MEMPOOL = "/ncn/mempool/1";
export const TOPIC_REPUTATION = "/ncn/reputation/1";
export const TOPICS = [TOPIC_HEARTBEAT, TOPIC_RECORDS, TOPIC_MEMPOOL, TOPIC_REPUTATION] as const;
export type Topic = (typeof TOPICS)[number];

/** IPs exempt from gossipsub's same-IP penalty (loopback: a devnet runs every node there). */
export const GOSSIP_COLOCATION_WHITELIST = ["127.0.0.1", "::1"] as const;
/** Largest gossip payload accepted (bytes); larger validation work goes over HTTP. */
export const MAX_GOSSIP_BYTES = 512 * 1024;
/** Largest HTTP body accepted (bytes): a completion carries the inputs and outputs. */
export const MAX_HTTP_BODY_BYTES = 32 * 1024 * 1024;

/** Verified records remembered so the DHT does not recover the same signature again and again. */
export const VERIFIED_CACHE_SIZE = 8_192;
/** How far a record's or heartbeat's clock may be ahead of ours. */
export const CLOCK_SKEW_MS = 30_000;
/**
 * How long a name's owner read from the chain is trusted. Claims never lapse, so this only
 * bounds how late a node sees a transfer; an unclaimed answer is kept briefly, so a claim that
 * just landed is seen at once while a flood of unclaimed names costs one chain read a second each.
 */
export const NAME_OWNER_TTL_MS = 60_000;
export const NAME_UNCLAIMED_TTL_MS = 1_000;
/** Names whose owner is kept in memory (oldest dropped first). */
export const NAME_OWNER_CACHE_SIZE = 8_192;
/** How long a DHT put/get may take before it is abandoned. */
export const DHT_TIMEOUT_MS = 10_000;
/** How long a record submission waits for its DHT put before answering (the put goes on). */
export const PUBLISH_DHT_WAIT_MS = 3_000;
/** For this long after start, each new peer triggers a lookup of our own id (faster joining). */
export const CONVERGE_WARMUP_MS = 60_000;
/** While warming up, a self-lookup waits this long after the last new peer (peers arrive in bursts). */
export const CONVERGE_DEBOUNCE_MS = 250;
/** Self-lookups new peers may trigger while warming up (each one queries many peers). */
export const CONVERGE_MAX_PEER_TRIGGERED = 3;
/** How often an isolated node (no connection at all) re-dials its bootstrap peers. */
export const BOOTSTRAP_REDIAL_MS = 2_000;
/** Self-lookups after warm-up (kad-dht's default is 5 minutes). */
export const DHT_QUERY_SELF_INTERVAL_MS = 60_000;
/** How often expired agent records and stale mempool items are pruned. */
export const PRUNE_INTERVAL_MS = 15_000;
/** Pre-attested terms are kept this long past their request's deadline (a completion may arrive late). */
export const PREATTESTED_KEEP_MS = 10 * 60_000;
/**
 * Attestations (own and gossiped) are kept this long and at most this many: a gateway
 * collects a request's attestations within its deadline.
 */
export const ATTESTATION_KEEP_MS = 24 * 3600_000;
export const MAX_ATTESTATIONS = 200_000;
/** Pre-attested terms are forgotten this long after they were saved, whatever their deadline, and capped. */
export const PREATTESTED_MAX_AGE_MS = 24 * 3600_000;
export const MAX_PREATTESTED = 200_000;
/** Records a node's index holds at most (agents, models, subnets, validators together). */
export const MAX_INDEXED_RECORDS = 100_000;
/** How often a node re-publishes its own records into the DHT. */
export const REPUBLISH_INTERVAL_MS = 10 * 60_000;
/**
 * After start, own records are put back into the DHT once the routing table has a peer, or
 * after this long (a lone node keeps them local); the table is checked every `REPUBLISH_POLL_MS`.
 */
export const REPUBLISH_FIRST_WAIT_MS = 30_000;
export const REPUBLISH_POLL_MS = 100;
/** How long events a node derives itself wait to be signed together into one reputation report. */
export const REPUTATION_FLUSH_DELAY_MS = 100;
/** Events signed into one reputation report at most. */
export const REPUTATION_REPORT_MAX_EVENTS = 256;

/** Minimum score an agent needs when its subnet sets no `minReputation` (shared with gateways). */
export { DEFAULT_MIN_REPUTATION } from "@ncn/protocol";
/** Weight of the newest sample in the latency moving average. */
export const LATENCY_EWMA_ALPHA = 0.2;
/** How old a signed reputation report may be. */
export const REPORT_MAX_AGE_MS = 5 * 60_000;
/**
 * Reputation event ids are remembered (against a replayed report) this long after they
 * arrive, and at most this many: a report older than `REPORT_MAX_AGE_MS` is refused anyway.
 */
export const REPUTATION_EVENT_KEEP_MS = 2 * (REPORT_MAX_AGE_MS + CLOCK_SKEW_MS);
export const MAX_REPUTATION_EVENTS = 200_000;

/** Mempool items live this long unless they carry a shorter deadline. */
export const MEMPOOL_TTL_MS = 2 * 60_000;
export const MEMPOOL_MAX_ITEMS = 10_000;
/** Validation work from the mempool processed at once by one node. */
export const MEMPOOL_CONCURRENCY = 4;

/** Default element-wise tolerance of a spot check: |a - b| <= atol + rtol * |b|. */
export const DEFAULT_SPOT_CHECK_ATOL = 1e-4;
export const DEFAULT_SPOT_CHECK_RTOL = 1e-3;

/** Models a validator keeps for re-execution (bytes), and how long an unused one stays. */
export const MODEL_CACHE_BYTES = 4 * 1024 ** 3;
export const MODEL_CACHE_TTL_MS = 7 * 24 * 3600_000;

export const ZERO_BYTES32 = `0x${"0".repeat(64)}` as const;

/**
 * Tolerance of an OCR spot check. Detection and recognition run in float: across hardware a
 * box corner may move by a pixel or two and a confidence by a little, but the text read and
 * the number of lines found must be the same.
 */
export const OCR_SPOT_CHECK_BOX_PX = 3;
export const OCR_SPOT_CHECK_SCORE = 0.05;

/**
 * Tolerance of a `generate` spot check, which scores the agent's tokens by teacher forcing
 * (one forward pass) instead of generating again. float32 logits of one model differ across
 * CPUs, GPUs and thread counts by about 1e-5 to 1e-4 (half precision about 1e-2), so a near
 * tie may break either way: a greedy token may sit up to 0.5 below the best logit, and a
 * sampled one must lie in the nucleus of `top_p` + 0.02. Both are hundreds of times the drift.
 */
export const GENERATE_SPOT_CHECK_TOLERANCE = {
  greedyMargin: 0.5,
  topPSlack: 0.02,
} as const satisfies Omit<VerifyTolerance, "tailMass">;

/**
 * Chance that an honest sampled result fails a `generate` spot check, at most. A sampled
 * token is refused when it lies in the least probable tail of its distribution; an honest
 * draw lands in a tail of mass m with probability about m whatever the hardware (float32
 * drift scales a probability by e^(2 * drift / temperature), ~1.001), so a result of n
 * tokens is checked with a tail of mass this / n per token: a failed check is a slashing
 * offence, and a long result must not make one likely (the runtime's fixed 1e-6 per token
 * would fail an honest 4,096-token result up to 0.4% of the time). For ncn-gpt's 32-token
 * results this still refuses every swap for the least likely token at temperature 1 or
 * below (its probability is ~1e-8 at 1, ~1e-11 at 0.7), and about 3 in 4 at 1.3.
 */
export const GENERATE_SPOT_CHECK_FALSE_ALARM = 1e-5;

/**
 * Least cosine between an agent's embedding and the validator's re-run of the same text.
 * float32 runs of one model differ across hardware in the last bits (summation order, fused
 * multiply-add, GPU kernels in TF32 or float16): a relative error up to ~1e-3 per component,
 * which costs unit vectors a cosine of about 1 - 5e-7. 0.999 (2.6 degrees) leaves three
 * orders of magnitude for that drift, while another text's vector lands lower: for
 * ncn-glove-100d 0.66 for a similar sentence, 0.989 for a six-word sentence without its last
 * word. A one-word change in a long text comes close (0.9986 at 23 words) and, longer, passes.
 */
export const EMBED_SPOT_CHECK_MIN_COSINE = 0.999;
/** Largest relative difference of an embedding's length from the re-run's (same drift argument). */
export const EMBED_SPOT_CHECK_MAX_NORM_DRIFT = 1e-3;

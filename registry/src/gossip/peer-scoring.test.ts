import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type GossipSub, gossipsub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import { noise } from "@libp2p/noise";
import { tcp } from "@libp2p/tcp";
import { yamux } from "@libp2p/yamux";
import { multiaddr } from "@multiformats/multiaddr";
import {
  AttestationPhase,
  hashCanonical,
  idToBytes32,
  makeGatewayToken,
  ncnDomain,
  type PreprocessRequest,
} from "@ncn/protocol";
import { createLibp2p, type Libp2p } from "libp2p";
import { generatePrivateKey } from "viem/accounts";
import { staticValidatorSet } from "../chain/validator-set.ts";
import {
  ATTESTATION_KEEP_MS,
  GOSSIP_COLOCATION_WHITELIST,
  MEMPOOL_TTL_MS,
  TOPIC_MEMPOOL,
} from "../constants.ts";
import type { RegistryNode } from "../node.ts";
import { GOSSIP_SCORE_THRESHOLDS } from "../p2p/gossip-scoring.ts";
import { noiseCrypto } from "../p2p/noise-crypto.ts";
import { startTestNode, tempDir, waitFor } from "../test-support/cluster.ts";
import { addressOf, newAccount } from "../test-support/records.ts";
import { memoryPaymentReader } from "../test-support/stream.ts";
import { attestationSigner } from "../validation/attestation-signer.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const validator = attestationSigner(generatePrivateKey());
/** A gateway the honest node serves: its token is what lets work into the mempool. */
const gateway = newAccount();
const encoder = new TextEncoder();
let honest: RegistryNode;
let hostile: Libp2p<{ pubsub: GossipSub }>;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  honest = await startTestNode(dir.path, {
    payments: memoryPaymentReader(domain),
    validatorSet: staticValidatorSet([validator.address]),
    config: { trustedGateways: [addressOf(gateway)] },
  });
  // A peer speaking plain gossipsub: it publishes whatever it likes, with no topic validators.
  hostile = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise({ crypto: noiseCrypto() })],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        scoreParams: { IPColocationFactorWhitelist: new Set(GOSSIP_COLOCATION_WHITELIST) },
      }),
    },
  });
  hostile.services.pubsub.subscribe(TOPIC_MEMPOOL);
  const [addr] = honest.multiaddrs();
  if (!addr) throw new Error("the honest node has no address");
  await hostile.dial(multiaddr(addr));
}, 60_000);

afterAll(async () => {
  await hostile?.stop();
  await honest?.stop();
  dir?.cleanup();
});

async function attestation(signer: ReturnType<typeof attestationSigner>, requestId: `0x${string}`) {
  return signer.attest(domain, {
    requestId,
    phase: AttestationPhase.Preprocess,
    subject: idToBytes32(`subject-${requestId}`),
    outputHash: `0x${"0".repeat(64)}`,
  });
}

async function send(message: unknown): Promise<void> {
  await hostile.services.pubsub.publish(TOPIC_MEMPOOL, encoder.encode(JSON.stringify(message)));
}

const mempoolStats = () => honest.gossip.counters()[TOPIC_MEMPOOL];

/** The hostile peer and the honest node subscribe to each other, and the peer is in the mesh. */
async function meshed(): Promise<string> {
  const hostileId = hostile.peerId.toString();
  await waitFor(
    () =>
      honest.libp2p.services.pubsub.getSubscribers(TOPIC_MEMPOOL).some((p) => p.toString() === hostileId) &&
      hostile.services.pubsub.getSubscribers(TOPIC_MEMPOOL).length > 0,
    20_000,
    "both subscribed",
  );
  await waitFor(() => honest.gossip.meshPeers(TOPIC_MEMPOOL).includes(hostileId), 20_000, "in the mesh");
  return hostileId;
}

describe("gossiped mempool work at a real node", () => {
  test("work gossiped with an expiry years ahead is kept for the mempool's TTL at most; attestations for it are stored, not for made-up requests", async () => {
    await meshed();
    const now = Date.now();
    const request = {
      requestId: `clamp-${now}`,
      subnet: "vision",
      model: "tiny-mlp",
      agent: addressOf(newAccount()),
      price: "100",
      payment: { mode: "escrow" },
      deadline: now + 3 * 3_600_000,
    } as PreprocessRequest;
    const id = hashCanonical({ phase: 0, request });
    // The attestation first (gossip has no order): valid, but for a request the node never saw.
    const requestId = idToBytes32(request.requestId);
    await send({ type: "attestation", requestId, attestation: await attestation(validator, requestId) });
    const madeUp = idToBytes32(`made-up-${now}`);
    await send({ type: "attestation", requestId: madeUp, attestation: await attestation(validator, madeUp) });
    await waitFor(() => (mempoolStats()?.accepted ?? 0) >= 2, 10_000, "both attestations read");
    expect(honest.attestations.list(requestId)).toEqual([]);
    await send({
      type: "work",
      id,
      phase: 0,
      request,
      postedAt: now,
      expiresAt: now + 10 * 365 * 86_400_000,
      auth: (await makeGatewayToken(gateway)).token,
    });
    await waitFor(() => honest.mempool.get(id) !== undefined, 10_000, "the work");
    expect(honest.mempool.get(id)?.expiresAt).toBeLessThanOrEqual(Date.now() + MEMPOOL_TTL_MS);
    // Known now: the attestation that came first is stored; the made-up request's never is.
    await waitFor(() => honest.attestations.list(requestId).length === 1, 10_000, "the held attestation");
    expect(honest.attestations.list(madeUp)).toEqual([]);
    // The node's own prune schedule forgets both, once old enough.
    const removed = honest.prune(Date.now() + ATTESTATION_KEEP_MS + MEMPOOL_TTL_MS + 1);
    expect(removed.mempool).toBeGreaterThanOrEqual(1);
    expect(removed.attestations).toBeGreaterThanOrEqual(1);
    expect(honest.mempool.get(id)).toBeUndefined();
    expect(honest.attestations.list(requestId)).toEqual([]);
  }, 60_000);
});

describe("gossip peer scoring", () => {
  test("a peer publishing attestations from a non-validator is graylisted: its later valid ones are dropped unread", async () => {
    const hostileId = await meshed();

    // Control: a genuine validator's attestation relayed by this peer is taken (read and
    // accepted; stored once the node knows the request).
    const accepted = mempoolStats()?.accepted ?? 0;
    const first = idToBytes32(`scored-${Date.now()}-first`);
    await send({ type: "attestation", requestId: first, attestation: await attestation(validator, first) });
    await waitFor(() => (mempoolStats()?.accepted ?? 0) === accepted + 1, 10_000, "the genuine attestation");
    expect(honest.gossip.peerScore(hostileId)).toBeGreaterThanOrEqual(0);

    // Attestations signed by a key that is no validator: each one rejected, not ignored.
    const stranger = attestationSigner(generatePrivateKey());
    for (let i = 0; i < 4; i++) {
      const requestId = idToBytes32(`scored-${Date.now()}-bad-${i}`);
      await send({ type: "attestation", requestId, attestation: await attestation(stranger, requestId) });
    }
    await waitFor(() => (mempoolStats()?.rejected ?? 0) >= 3, 10_000, "rejections");
    const graylist = GOSSIP_SCORE_THRESHOLDS.graylistThreshold ?? -80;
    await waitFor(() => honest.gossip.peerScore(hostileId) < graylist, 10_000, "a graylisted score");
    await waitFor(
      () => !honest.gossip.meshPeers(TOPIC_MEMPOOL).includes(hostileId),
      10_000,
      "pruned from the mesh",
    );

    // A genuine attestation from the graylisted peer is not even looked at.
    const received = mempoolStats()?.received ?? 0;
    const later = idToBytes32(`scored-${Date.now()}-later`);
    await send({ type: "attestation", requestId: later, attestation: await attestation(validator, later) });
    const until = Date.now() + 2_000;
    while (Date.now() < until) await Bun.sleep(100);
    expect(honest.attestations.list(later)).toEqual([]);
    expect(mempoolStats()?.received).toBe(received);
    expect(honest.gossip.peerScore(hostileId)).toBeLessThan(graylist);
  }, 60_000);
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type GossipSub, gossipsub } from "@libp2p/gossipsub";
import { identify } from "@libp2p/identify";
import { noise } from "@libp2p/noise";
import { tcp } from "@libp2p/tcp";
import { yamux } from "@libp2p/yamux";
import { multiaddr } from "@multiformats/multiaddr";
import { AttestationPhase, idToBytes32, ncnDomain } from "@ncn/protocol";
import { createLibp2p, type Libp2p } from "libp2p";
import { generatePrivateKey } from "viem/accounts";
import { staticValidatorSet } from "../chain/validator-set.ts";
import { GOSSIP_COLOCATION_WHITELIST, TOPIC_MEMPOOL } from "../constants.ts";
import type { RegistryNode } from "../node.ts";
import { GOSSIP_SCORE_THRESHOLDS } from "../p2p/gossip-scoring.ts";
import { startTestNode, tempDir, waitFor } from "../test-support/cluster.ts";
import { memoryPaymentReader } from "../test-support/stream.ts";
import { attestationSigner } from "../validation/attestation-signer.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const validator = attestationSigner(generatePrivateKey());
const encoder = new TextEncoder();
let honest: RegistryNode;
let hostile: Libp2p<{ pubsub: GossipSub }>;
let dir: ReturnType<typeof tempDir>;

beforeAll(async () => {
  dir = tempDir();
  honest = await startTestNode(dir.path, {
    payments: memoryPaymentReader(domain),
    validatorSet: staticValidatorSet([validator.address]),
  });
  // A peer speaking plain gossipsub: it publishes whatever it likes, with no topic validators.
  hostile = await createLibp2p({
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
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

describe("gossip peer scoring", () => {
  test("a peer publishing attestations from a non-validator is graylisted: its later valid ones are dropped unread", async () => {
    const hostileId = hostile.peerId.toString();
    const mempoolStats = () => honest.gossip.counters()[TOPIC_MEMPOOL];
    await waitFor(
      () =>
        honest.libp2p.services.pubsub.getSubscribers(TOPIC_MEMPOOL).some((p) => p.toString() === hostileId) &&
        hostile.services.pubsub.getSubscribers(TOPIC_MEMPOOL).length > 0,
      20_000,
      "both subscribed",
    );

    await waitFor(() => honest.gossip.meshPeers(TOPIC_MEMPOOL).includes(hostileId), 20_000, "in the mesh");

    // Control: a genuine validator's attestation relayed by this peer is taken.
    const first = idToBytes32(`scored-${Date.now()}-first`);
    await send({ type: "attestation", requestId: first, attestation: await attestation(validator, first) });
    await waitFor(() => honest.attestations.list(first).length === 1, 10_000, "the genuine attestation");
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

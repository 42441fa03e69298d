import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { recordDhtKey } from "@ncn/protocol";
import { TOPIC_HEARTBEAT, TOPIC_MEMPOOL, TOPIC_RECORDS, TOPIC_REPUTATION, TOPICS } from "./constants.ts";
import { encodeRecord } from "./records/check-record.ts";
import { type Cluster, startCluster, startTestNode, waitFor } from "./test-support/cluster.ts";
import {
  agentRecord,
  fakeModel,
  modelRecord,
  newAccount,
  signHeartbeat,
  subnetRecord,
} from "./test-support/records.ts";

const encoder = new TextEncoder();
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(4, { minPeers: 2 });
  // Gossip needs every node to know the others' subscriptions.
  await waitFor(
    () => cluster.nodes.every((n) => TOPICS.every((t) => n.gossip.subscribers(t) >= 2)),
    10_000,
    "gossip subscriptions",
  );
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

function node(i: number) {
  const n = cluster.nodes[i];
  if (!n) throw new Error(`no node ${i}`);
  return n;
}

describe("registry network (4 nodes on loopback)", () => {
  test("a record put in the DHT on one node is read from the others", async () => {
    const record = await modelRecord(newAccount(), fakeModel("dht-only"));
    const stored = await node(0).records.dhtPut(record);
    expect(stored).toBeGreaterThan(0);
    for (const i of [1, 2, 3]) {
      const got = await node(i).records.dhtGet("model", "dht-only");
      expect(got?.signature).toBe(record.signature);
    }
  });

  test("a record submitted over HTTP is listed by every node and served from the DHT", async () => {
    const owner = newAccount();
    const record = await subnetRecord(owner, { id: "http-subnet" });
    const res = await fetch(`${node(1).url}/v1/records`, { method: "POST", body: JSON.stringify(record) });
    expect(res.status).toBe(201);
    const body = (await res.json()) as { dhtPeers: number; result: string };
    expect(body.result).toBe("inserted");
    for (const n of cluster.nodes) {
      await waitFor(() => n.index.get("subnet", "http-subnet"), 5_000, "gossiped subnet");
    }
    const list = (await (await fetch(`${node(3).url}/v1/subnets`)).json()) as { subnets: { key: string }[] };
    expect(list.subnets.map((s) => s.key)).toContain("http-subnet");
    const viaDht = (await (
      await fetch(`${node(2).url}/v1/records/subnet/http-subnet?source=dht`)
    ).json()) as {
      source: string;
      record: { signature: string };
    };
    expect(viaDht.source).toBe("dht");
    expect(viaDht.record.signature).toBe(record.signature);
  });

  test("a forged record is refused by every node, in the DHT and on gossip", async () => {
    const owner = newAccount();
    const genuine = await subnetRecord(owner, { id: "forged-subnet" });
    const forged = { ...genuine, body: { ...genuine.body, name: "taken over" } };
    const rejectedBefore = cluster.nodes.map((n) => n.gossip.counters()[TOPIC_RECORDS]?.rejected ?? 0);
    // Bypass the node's own checks: write straight into the DHT and onto the topic.
    for await (const _ of node(0).libp2p.services.dht.put(
      encoder.encode(recordDhtKey("subnet", "forged-subnet")),
      encoder.encode(JSON.stringify(forged)),
    )) {
      // drain
    }
    await node(0).libp2p.services.pubsub.publish(TOPIC_RECORDS, encoder.encode(JSON.stringify(forged)));
    await waitFor(
      () =>
        [1, 2, 3].every(
          (i) => (node(i).gossip.counters()[TOPIC_RECORDS]?.rejected ?? 0) > (rejectedBefore[i] ?? 0),
        ),
      5_000,
      "gossip rejections",
    );
    for (const n of cluster.nodes) {
      expect(n.index.get("subnet", "forged-subnet")).toBeUndefined();
      expect(await n.records.dhtGet("subnet", "forged-subnet")).toBeUndefined();
    }
    const res = await fetch(`${node(2).url}/v1/records`, { method: "POST", body: JSON.stringify(forged) });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("SIGNATURE_INVALID");
  });

  test("a stale record never replaces a newer one", async () => {
    const owner = newAccount();
    const v1 = await subnetRecord(owner, { id: "stale-subnet", seq: 1 });
    const v2 = await subnetRecord(owner, { id: "stale-subnet", seq: 2 });
    await node(0).records.publish(v2);
    for (const n of cluster.nodes)
      await waitFor(() => n.index.get("subnet", "stale-subnet"), 5_000, "v2 everywhere");
    // A peer replays the old version straight into the DHT and onto gossip.
    for await (const _ of node(1).libp2p.services.dht.put(
      encoder.encode(recordDhtKey("subnet", "stale-subnet")),
      encodeRecord(v1),
    )) {
      // drain
    }
    await node(1).libp2p.services.pubsub.publish(TOPIC_RECORDS, encodeRecord(v1));
    await Bun.sleep(300);
    for (const n of cluster.nodes) {
      expect(n.index.get("subnet", "stale-subnet")?.record.seq).toBe(2);
      expect((await n.records.dhtGet("subnet", "stale-subnet"))?.seq).toBe(2);
    }
    const res = await fetch(`${node(3).url}/v1/records`, { method: "POST", body: JSON.stringify(v1) });
    expect(res.status).toBe(409);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe("STALE_RECORD");
  });

  test("heartbeats spread and keep agents listed with their load", async () => {
    const agent = newAccount();
    await node(0).records.publish(await agentRecord(agent, { subnets: ["hb"], models: ["m"] }));
    for (const n of cluster.nodes)
      await waitFor(() => n.index.get("agent", agent.address.toLowerCase()), 5_000, "agent");
    const hb = await signHeartbeat(agent, { running: 2, queued: 5 });
    const res = await fetch(`${node(1).url}/v1/heartbeats`, { method: "POST", body: JSON.stringify(hb) });
    expect(res.status).toBe(202);
    for (const n of cluster.nodes) {
      await waitFor(
        () => n.index.livenessOf(agent.address.toLowerCase())?.load.queued === 5,
        5_000,
        "heartbeat",
      );
    }
    const list = (await (await fetch(`${node(3).url}/v1/agents?subnet=hb&model=m`)).json()) as {
      agents: { address: string; load: { queued: number } }[];
    };
    expect(list.agents.map((a) => a.address)).toEqual([agent.address.toLowerCase()]);
    expect(list.agents[0]?.load.queued).toBe(5);
    const none = (await (await fetch(`${node(3).url}/v1/agents?subnet=other`)).json()) as {
      agents: unknown[];
    };
    expect(none.agents).toEqual([]);
  });

  test("malformed gossip on every topic is dropped and counted; the nodes keep working", async () => {
    const before = node(2).gossip.counters();
    const garbage = [
      new Uint8Array([0xff, 0x00, 0x13]),
      encoder.encode("{not json"),
      encoder.encode(JSON.stringify({ kind: "agent", key: 5 })),
      encoder.encode(JSON.stringify({ type: "work", phase: 7 })),
    ];
    // One invalid message per publisher and topic: scoring charges -20 x count^2 per topic and
    // graylists a peer below -80, so a second one from the same peer on a topic could be
    // dropped unread once the receiver refreshes its scores (at a heartbeat that falls inside
    // the burst on a loaded machine). Each topic gets three of the variants, every variant is sent.
    const publishers = [0, 1, 3];
    const topics = [TOPIC_RECORDS, TOPIC_HEARTBEAT, TOPIC_MEMPOOL, TOPIC_REPUTATION];
    for (const [t, topic] of topics.entries()) {
      for (const [k, publisher] of publishers.entries()) {
        const g = garbage[(t + k) % garbage.length] as Uint8Array;
        await node(publisher).libp2p.services.pubsub.publish(topic, g);
      }
    }
    await waitFor(
      () =>
        topics.every(
          (t) =>
            (node(2).gossip.counters()[t]?.malformed ?? 0) >= (before[t]?.malformed ?? 0) + publishers.length,
        ),
      5_000,
      "malformed counters",
    );
    const health = (await (await fetch(`${node(2).url}/health`)).json()) as {
      status: string;
      gossip: Record<string, { malformed: number }>;
    };
    expect(health.status).toBe("ok");
    expect(health.gossip[TOPIC_RECORDS]?.malformed).toBeGreaterThanOrEqual(publishers.length);
    // Still serving and still gossiping.
    const record = await modelRecord(newAccount(), fakeModel("after-garbage"));
    await node(2).records.publish(record);
    await waitFor(() => node(3).index.get("model", "after-garbage"), 5_000, "gossip after garbage");
  });

  test("a stopped node's peers keep serving, and a restarted node comes back with its data", async () => {
    const victim = node(3);
    const dataDir = cluster.dirs[3] ?? "";
    const peerId = victim.peerId;
    const before = victim.index.size;
    await victim.stop();
    // Written while the node is down: it must learn this from its peers after the restart.
    const owner = newAccount();
    const missed = await subnetRecord(owner, { id: "while-down" });
    await node(0).records.publish(missed);
    expect((await node(1).records.dhtGet("subnet", "while-down"))?.signature).toBe(missed.signature);
    expect((await node(2).records.dhtGet("model", "dht-only"))?.key).toBe("dht-only");
    const health = await fetch(`${node(1).url}/health`);
    expect(health.status).toBe(200);

    const restarted = await startTestNode(dataDir, { config: { bootstrap: node(0).multiaddrs() } });
    cluster.nodes[3] = restarted;
    expect(restarted.peerId).toBe(peerId);
    expect(restarted.index.size).toBeGreaterThanOrEqual(before);
    expect(restarted.index.get("subnet", "http-subnet")).toBeDefined();
    await waitFor(() => restarted.index.get("subnet", "while-down"), 10_000, "index sync after restart");
    await waitFor(() => restarted.routingTableSize() >= 1, 10_000, "rejoined the DHT");
    expect((await restarted.records.dhtGet("model", "dht-only"))?.key).toBe("dht-only");
  });

  test("a new node joining late pulls the index from its peers", async () => {
    const dataDir = join(cluster.dirs[0] ?? "", "..", "late");
    const late = await startTestNode(dataDir, { config: { bootstrap: node(1).multiaddrs() } });
    cluster.nodes.push(late);
    await waitFor(
      () => late.index.get("subnet", "http-subnet") && late.index.get("model", "after-garbage"),
      10_000,
      "sync",
    );
    const list = (await (await fetch(`${late.url}/v1/models`)).json()) as { models: { key: string }[] };
    expect(list.models.map((m) => m.key)).toContain("after-garbage");
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { TOPIC_RECORDS } from "../constants.ts";
import { type Cluster, startCluster, waitFor } from "../test-support/cluster.ts";
import { newAccount, subnetRecord } from "../test-support/records.ts";

// Enough nodes on 127.0.0.1 that gossipsub's same-IP penalty (beyond 10 peers per IP, quadratic)
// would push every peer below the publish threshold.
const N = 16;
let cluster: Cluster;

beforeAll(async () => {
  cluster = await startCluster(N, { minPeers: 3 });
}, 60_000);
afterAll(async () => {
  await cluster?.stop();
});

describe(`gossip between ${N} nodes sharing one IP`, () => {
  test("an announcement reaches every node's index", async () => {
    await waitFor(
      () => cluster.nodes.every((n) => n.gossip.subscribers(TOPIC_RECORDS) >= 2),
      20_000,
      "subscriptions",
    );
    const from = cluster.nodes[N - 1];
    if (!from) throw new Error("no node");
    const record = await subnetRecord(newAccount(), { id: "crowded" });
    const { gossipPeers } = await from.records.publish(record);
    expect(gossipPeers).toBeGreaterThan(0);
    await waitFor(() => cluster.nodes.every((n) => n.index.get("subnet", "crowded")), 15_000, "every index");
  }, 60_000);
});

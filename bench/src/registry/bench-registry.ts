import { join } from "node:path";
import type { SignedRecord } from "@ncn/protocol";
import type { RegistryNode } from "../../../registry/src/node.ts";
import { startTestNode, tempDir, waitFor } from "../../../registry/src/test-support/cluster.ts";
import {
  fakeModel,
  modelRecord,
  newAccount,
  subnetRecord,
} from "../../../registry/src/test-support/records.ts";
import { percentile } from "../stats.ts";

export interface RegistryFigures {
  [figure: string]: number;
}

export interface RegistryBenchOptions {
  nodes: number;
  /** Records put (each then looked up from another node). */
  records: number;
  /** Routing table size every node must reach to count as converged. */
  minRoutingTable: number;
}

export function registryBenchOptions(quick: boolean): RegistryBenchOptions {
  return quick
    ? { nodes: 8, records: 20, minRoutingTable: 5 }
    : { nodes: 20, records: 60, minRoutingTable: 10 };
}

function pick<T>(items: readonly T[], not?: T): T {
  for (;;) {
    const item = items[Math.floor(Math.random() * items.length)];
    if (item !== undefined && item !== not) return item;
  }
}

/**
 * Starts `nodes` registry nodes on loopback in this process (each bootstrapping from the
 * first), then measures: time until every routing table holds `minRoutingTable` peers,
 * gossip propagation of a record to every node's index once the mesh has formed, the
 * lookup gateways make (HTTP, from the local index), and DHT put/get latency between random
 * pairs of nodes (the fallback when an index misses). Every node is stopped before it returns.
 *
 * @example const figures = await benchRegistry(true); // 8 nodes
 */
export async function benchRegistry(
  quick: boolean,
  overrides: Partial<RegistryBenchOptions> = {},
): Promise<RegistryFigures> {
  const options = { ...registryBenchOptions(quick), ...overrides };
  const dir = tempDir("ncn-bench-registry-");
  const nodes: RegistryNode[] = [];
  const figures: RegistryFigures = { registry_nodes: options.nodes };
  try {
    const t0 = performance.now();
    for (let i = 0; i < options.nodes; i++) {
      const first = nodes[0];
      nodes.push(
        await startTestNode(join(dir.path, `n${i}`), {
          config: { ...(first ? { bootstrap: first.multiaddrs() } : {}), logLevel: "error" },
        }),
      );
    }
    figures.registry_start_all_ms = performance.now() - t0;
    const min = Math.min(options.minRoutingTable, options.nodes - 1);
    await waitFor(() => nodes.every((n) => n.routingTableSize() >= min), 180_000, "routing tables");
    figures.registry_converged_ms = performance.now() - t0;
    figures.registry_routing_table_min = Math.min(...nodes.map((n) => n.routingTableSize()));
    figures.registry_routing_table_mean = nodes.reduce((s, n) => s + n.routingTableSize(), 0) / nodes.length;
    await waitFor(
      () => nodes.every((n) => n.gossip.subscribers("/ncn/records/1") >= 1),
      120_000,
      "gossip subscriptions",
    );
    // Let gossipsub graft its mesh (heartbeats are 1 s apart) before timing propagation.
    await Bun.sleep(2_500);

    // Gossip: one record published on a node, until every node's index has it.
    const gossipMs: number[] = [];
    for (let i = 0; i < 5; i++) {
      const record = await subnetRecord(newAccount(), { id: `gossip-${i}` });
      const from = pick(nodes);
      const start = performance.now();
      await from.records.publish(record);
      await waitFor(
        () => nodes.every((n) => n.index.get("subnet", record.key)),
        30_000,
        "gossip propagation",
      );
      gossipMs.push(performance.now() - start);
    }
    figures.registry_gossip_all_nodes_ms_p50 = percentile(gossipMs, 50);
    figures.registry_gossip_all_nodes_ms_max = Math.max(...gossipMs);

    // The lookup a gateway makes: `GET /v1/models/:id` on a node that did not publish the
    // record, answered from its local index (kept fresh by gossip), the DHT only as fallback.
    const indexed: { id: string; signature: string; from: RegistryNode }[] = [];
    const publisher = newAccount();
    for (let i = 0; i < options.records; i++) {
      const record = await modelRecord(publisher, fakeModel(`indexed-model-${i}`));
      const from = pick(nodes);
      await from.records.publish(record);
      indexed.push({ id: record.key, signature: record.signature, from });
    }
    await waitFor(
      () => indexed.every(({ id }) => nodes.every((n) => n.index.get("model", id))),
      60_000,
      "gossip of the indexed records",
    );
    const indexMs: number[] = [];
    let indexFound = 0;
    for (let round = 0; round < 3; round++) {
      for (const { id, signature, from } of indexed) {
        const reader = pick(nodes, from);
        const start = performance.now();
        const res = await fetch(`${reader.url}/v1/models/${encodeURIComponent(id)}`);
        const got = (await res.json()) as { signature?: string };
        indexMs.push(performance.now() - start);
        if (res.ok && got.signature === signature) indexFound++;
      }
    }
    figures.registry_index_lookup_http_ms_p50 = percentile(indexMs, 50);
    figures.registry_index_lookup_http_ms_p99 = percentile(indexMs, 99);
    figures.registry_index_lookup_found_ratio = indexFound / indexMs.length;

    // DHT: put from one node, get from another (the DHT only: no index, no gossip).
    const records: { record: SignedRecord; from: RegistryNode }[] = [];
    const owner = newAccount();
    for (let i = 0; i < options.records; i++) {
      records.push({ record: await modelRecord(owner, fakeModel(`bench-model-${i}`)), from: pick(nodes) });
    }
    const putMs: number[] = [];
    const putPeers: number[] = [];
    for (const { record, from } of records) {
      const start = performance.now();
      putPeers.push(await from.records.dhtPut(record));
      putMs.push(performance.now() - start);
    }
    const getMs: number[] = [];
    let found = 0;
    for (const { record, from } of records) {
      const reader = pick(nodes, from);
      const start = performance.now();
      const got = await reader.records.dhtGet("model", record.key);
      getMs.push(performance.now() - start);
      if (got?.signature === record.signature) found++;
    }
    figures.registry_dht_put_ms_p50 = percentile(putMs, 50);
    figures.registry_dht_put_ms_p99 = percentile(putMs, 99);
    figures.registry_dht_put_peers_mean = putPeers.reduce((s, n) => s + n, 0) / putPeers.length;
    figures.registry_dht_get_ms_p50 = percentile(getMs, 50);
    figures.registry_dht_get_ms_p99 = percentile(getMs, 99);
    figures.registry_dht_get_found_ratio = found / records.length;
  } finally {
    const t = performance.now();
    await Promise.all(nodes.map((n) => n.stop()));
    figures.registry_stop_all_ms = performance.now() - t;
    dir.cleanup();
  }
  return figures;
}

/**
 * Registry benchmark: `npx bun bench/src/registry/main.ts [--quick]`.
 * Starts 20 registry nodes on loopback (8 with --quick) and prints the time to converge,
 * gossip propagation to every node, and DHT put/get latency (p50/p99) between nodes.
 */
import { createLogger } from "../../../registry/src/logger.ts";
import { guardAbortedSockets } from "../../../registry/src/p2p/aborted-socket-guard.ts";
import { fmt } from "../stats.ts";
import { benchRegistry, registryBenchOptions } from "./bench-registry.ts";

guardAbortedSockets(createLogger("bench:registry", { level: "warn" }));
const quick = process.argv.includes("--quick");
const options = registryBenchOptions(quick);
const figures = await benchRegistry(quick);
const width = Math.max(...Object.keys(figures).map((k) => k.length));
for (const [k, v] of Object.entries(figures)) console.log(`${k.padEnd(width)}  ${fmt(v)}`);
console.log(
  `\n${options.nodes} nodes: converged in ${fmt((figures.registry_converged_ms ?? Number.NaN) / 1000, 2)} s; ` +
    `DHT lookup p50 ${fmt(figures.registry_dht_get_ms_p50 ?? Number.NaN, 1)} ms, p99 ${fmt(figures.registry_dht_get_ms_p99 ?? Number.NaN, 1)} ms ` +
    `(${fmt((figures.registry_dht_get_found_ratio ?? 0) * 100, 0)}% found); gossip to all nodes p50 ${fmt(figures.registry_gossip_all_nodes_ms_p50 ?? Number.NaN, 1)} ms`,
);

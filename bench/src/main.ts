import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { createLogger } from "../../registry/src/logger.ts";
import { guardAbortedSockets } from "../../registry/src/p2p/aborted-socket-guard.ts";
import { benchAgent } from "./agent/bench-agent.ts";
import { benchEmbed } from "./embed/bench-embed.ts";
import { defaultShape, measureGas } from "./gas/measure-gas.ts";
import { benchLlm } from "./llm/bench-llm.ts";
import { benchOpenAiNetwork } from "./llm/bench-openai-network.ts";
import { benchNetwork, type SweepPoint } from "./network/bench-network.ts";
import { benchProtocol } from "./protocol.ts";
import { benchRegistry } from "./registry/bench-registry.ts";
import { markdownReport, sweepSvg } from "./report.ts";
import { benchSandbox } from "./sandbox/bench-sandbox.ts";
import { benchSpeech } from "./speech/bench-speech.ts";
import { fmt } from "./stats.ts";

// libp2p's TCP transport can leave an aborted dial's error unhandled; the registry nodes
// this runner starts in-process need the same guard their own entry point installs.
guardAbortedSockets(createLogger("bench:registry", { level: "warn" }));

const quick = process.argv.includes("--quick");
const only = process.argv
  .find((a) => a.startsWith("--only="))
  ?.slice("--only=".length)
  .split(",");
const results: Record<string, number> = {};
let sweep: SweepPoint[] = [];
const started = performance.now();

function progress(msg: string): void {
  const s = ((performance.now() - started) / 1000).toFixed(0).padStart(4);
  process.stderr.write(`[${s}s] ${msg}\n`);
}

async function section(name: string, run: () => Promise<object>): Promise<void> {
  if (only && !only.includes(name)) return;
  progress(`${name}...`);
  const t0 = performance.now();
  try {
    const figures = await run();
    for (const [k, v] of Object.entries(figures)) if (typeof v === "number") results[k] = v;
    progress(`${name} done in ${fmt((performance.now() - t0) / 1000, 1)} s`);
  } catch (e) {
    progress(`${name} FAILED: ${e instanceof Error ? e.message : String(e)}`);
    process.exitCode = 1;
  }
}

await section("protocol", () => benchProtocol(quick));
await section("network", async () => {
  const f = await benchNetwork(quick, (m) => progress(`  ${m}`));
  sweep = f.sweep;
  return f;
});
await section("gas", async () => {
  const sizes = quick ? [1, 10, 100] : [1, 10, 100, 1000];
  const r = await measureGas(sizes.map(defaultShape));
  const out: Record<string, number> = {
    gas_per_request_escrow: Number(r.escrow.perRequest),
    gas_escrow_initiate: Number(r.escrow.initiate),
    gas_escrow_complete: Number(r.escrow.complete),
  };
  for (const b of r.batches) out[`gas_per_request_batch${b.requests}`] = b.gasPerRequest;
  return out;
});
await section("sandbox", async () => {
  const f = await benchSandbox(quick);
  return { ...f, sandbox_start_ratio: f.sandbox_start_overhead_ratio };
});
await section("registry", async () => {
  const f = await benchRegistry(quick);
  return {
    ...f,
    // What a gateway's lookup costs: the local index through HTTP (the DHT is the fallback,
    // shown as registry_dht_get_ms_*).
    registry_lookup_ms_p50: f.registry_index_lookup_http_ms_p50 ?? Number.NaN,
    registry_lookup_ms_p99: f.registry_index_lookup_http_ms_p99 ?? Number.NaN,
  };
});
await section("embed", () => benchEmbed(quick));
await section("llm", () => benchLlm(quick));
await section("speech", () => benchSpeech(quick));
await section("llm-network", () => benchOpenAiNetwork(quick, (m) => progress(`  ${m}`)));
// The agent's own overhead breakdown (link vs executor, OCR stages, cold start of the
// executable) takes minutes; the network section above already covers the whole path.
if (!quick) await section("agent", () => benchAgent(quick));

const goals = [
  {
    name: "added latency p50, tiny model (ms)",
    value: results.added_latency_ms_p50_tiny ?? Number.NaN,
    goal: "< 5",
    ok: (results.added_latency_ms_p50_tiny ?? Number.POSITIVE_INFINITY) < 5,
  },
  {
    name: "throughput, tiny model (requests/s)",
    value: results.throughput_rps_tiny ?? Number.NaN,
    goal: ">= 1000",
    ok: (results.throughput_rps_tiny ?? 0) >= 1000,
  },
  {
    name: "gas per request at batch 100",
    value: results.gas_per_request_batch100 ?? Number.NaN,
    goal: "< 2000",
    ok: (results.gas_per_request_batch100 ?? Number.POSITIVE_INFINITY) < 2000,
  },
  {
    name: "time to first token through the network vs 1.2x direct + 20 ms",
    value: results.llm_ttft_goal_ratio ?? Number.NaN,
    goal: "<= 1",
    ok: (results.llm_ttft_goal_ratio ?? Number.POSITIVE_INFINITY) <= 1,
  },
  {
    name: "tokens/s through the network vs direct",
    value: results.llm_tokens_per_s_ratio ?? Number.NaN,
    goal: ">= 0.9",
    ok: (results.llm_tokens_per_s_ratio ?? 0) >= 0.9,
  },
  {
    name: "per-request HTTP API, added latency p50, tiny model (ms)",
    value: results.added_latency_ms_p50_tiny_http ?? Number.NaN,
    goal: "<= 15",
    ok: (results.added_latency_ms_p50_tiny_http ?? Number.POSITIVE_INFINITY) <= 15,
  },
  {
    name: "per-request HTTP API, throughput, tiny model (requests/s)",
    value: results.throughput_rps_tiny_http ?? Number.NaN,
    goal: ">= 200",
    ok: (results.throughput_rps_tiny_http ?? 0) >= 200,
  },
  {
    name: "OCR detection through the network vs 1.5x direct + 10 ms",
    value:
      (results.latency_ms_p50_ocr_det ?? Number.NaN) /
      (1.5 * (results.direct_ms_p50_ocr_det ?? Number.NaN) + 10),
    goal: "<= 1",
    ok:
      (results.latency_ms_p50_ocr_det ?? Number.POSITIVE_INFINITY) <=
      1.5 * (results.direct_ms_p50_ocr_det ?? 0) + 10,
  },
  ...(["det320", "cls"] as const).map((m) => ({
    name: `agent executor vs direct onnxruntime, ${m}`,
    value: results[`${m}_executor_overhead_ratio`] ?? Number.NaN,
    goal: "<= 1.15x",
    ok: (results[`${m}_executor_overhead_ratio`] ?? Number.POSITIVE_INFINITY) <= 1.15,
  })),
  {
    name: "registry lookup p50, local index over HTTP (ms)",
    value: results.registry_lookup_ms_p50 ?? Number.NaN,
    goal: "< 20",
    ok: (results.registry_lookup_ms_p50 ?? Number.POSITIVE_INFINITY) < 20,
  },
  {
    name: "sandbox start vs plain python",
    value: results.sandbox_start_ratio ?? Number.NaN,
    goal: "<= 1.5x",
    ok: (results.sandbox_start_ratio ?? Number.POSITIVE_INFINITY) <= 1.5,
  },
];

const width = Math.max(...Object.keys(results).map((k) => k.length), 10);
console.log("");
for (const [k, v] of Object.entries(results)) console.log(`${k.padEnd(width)}  ${fmt(v)}`);
if (sweep.length > 0) {
  console.log("\nin flight  requests/s   p50 ms   p99 ms  errors");
  for (const s of sweep) {
    console.log(
      `${String(s.concurrency).padStart(9)}  ${fmt(s.rps, 1).padStart(10)}  ${fmt(s.p50, 1).padStart(7)}  ${fmt(s.p99, 1).padStart(7)}  ${String(s.errors).padStart(6)}`,
    );
  }
}
console.log("");
for (const g of goals)
  console.log(`${g.ok ? "met    " : "NOT met"}  ${g.name}: ${fmt(g.value, 2)} (goal ${g.goal})`);

const dir = join(import.meta.dirname, "..", "results");
mkdirSync(dir, { recursive: true });
const at = new Date().toISOString();
writeFileSync(join(dir, "latest.json"), `${JSON.stringify({ at, quick, ...results, sweep }, null, 2)}\n`);
writeFileSync(join(dir, "sweep.svg"), sweepSvg(sweep));
writeFileSync(join(dir, "REPORT.md"), markdownReport(results, sweep, goals, { at, quick }));
progress(
  `wrote bench/results/latest.json, REPORT.md and sweep.svg in ${fmt((performance.now() - started) / 1000, 0)} s`,
);

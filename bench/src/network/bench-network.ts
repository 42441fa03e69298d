import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEVNET_PRICES, startDevnet } from "@ncn/cli/devnet";
import { nameChainOf } from "@ncn/cli/devnet-file";
import {
  claimRecordNames,
  modelRecord,
  publishRecord,
  signRecord,
  subnetRecord,
  waitForCatalog,
} from "@ncn/cli/records";
import type { Tensor } from "@ncn/protocol";
import { PPOCR_V4_DET } from "@ncn/runtime/builtin-models";
import { resolveNpmSource } from "@ncn/runtime/npm-source";
import { tinyModelBytes } from "@ncn/runtime/testing/tiny-model";
import * as ort from "onnxruntime-node";
import { privateKeyToAccount } from "viem/accounts";
import { percentile } from "../stats.ts";

export interface SweepPoint {
  concurrency: number;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface NetworkFigures {
  latency_ms_p50_tiny: number;
  latency_ms_p95_tiny: number;
  latency_ms_p99_tiny: number;
  direct_ms_p50_tiny: number;
  added_latency_ms_p50_tiny: number;
  latency_ratio_p50_tiny: number;
  latency_ms_p50_ocr_det: number;
  latency_ms_p99_ocr_det: number;
  direct_ms_p50_ocr_det: number;
  added_latency_ms_p50_ocr_det: number;
  latency_ratio_p50_ocr_det: number;
  throughput_rps_tiny: number;
  /** The per-request HTTP API (two validation phases per request), for comparison. */
  latency_ms_p50_tiny_http: number;
  added_latency_ms_p50_tiny_http: number;
  throughput_rps_tiny_http: number;
  devnet_ready_ms: number;
  sweep: SweepPoint[];
  sweep_http: SweepPoint[];
}

const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);

/**
 * Latency and throughput through the whole network (gateway in workerd, session voucher,
 * preprocess and completion validation by 2 of 3 validators, agent, signed receipt)
 * against onnxruntime called directly in this process on the same model and input.
 */
export async function benchNetwork(
  quick: boolean,
  log: (msg: string) => void = () => undefined,
): Promise<NetworkFigures> {
  const home = mkdtempSync(join(tmpdir(), "ncn-bench-net-"));
  const t0 = performance.now();
  const devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
  const readyMs = performance.now() - t0;
  try {
    // The detector offered as a tensor model in the default subnet, so the network runs exactly what the baseline runs.
    const owner = privateKeyToAccount(devnet.file.subnetOwner?.privateKey as `0x${string}`);
    const reg = devnet.file.registries.map((r) => r.url);
    await claimRecordNames(nameChainOf(devnet.file), owner, [{ kind: "model", name: PPOCR_V4_DET.id }]);
    await publishRecord(reg[0] as string, await signRecord(owner, modelRecord(PPOCR_V4_DET, Date.now())));
    await publishRecord(
      reg[0] as string,
      await signRecord(
        owner,
        subnetRecord(
          owner.address,
          {
            id: "default",
            name: "Tensor models",
            models: [
              { id: "tiny-mlp", price: DEVNET_PRICES.tiny.toString() },
              { id: PPOCR_V4_DET.id, price: DEVNET_PRICES.tiny.toString() },
            ],
          },
          Date.now(),
        ),
      ),
    );
    await waitForCatalog(reg, ["default"], [PPOCR_V4_DET.id]);
    // The agents list the detector in their next record (every 20 s); validators only attest listed models.
    const listed = async () => {
      const r = await fetch(`${reg[0]}/v1/agents?subnet=default&model=${PPOCR_V4_DET.id}`);
      const body = (await r.json()) as { agents?: unknown[] };
      return body.agents?.length ?? 0;
    };
    const deadline = Date.now() + 30_000;
    while ((await listed()) < devnet.agents.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 500));

    const client = devnet.client;
    const tinyInput: Tensor = { dtype: "float32", dims: [1, 4], data: rand(4) };
    const detInput: Tensor = { dtype: "float32", dims: [1, 3, 320, 320], data: rand(3 * 320 * 320) };
    const tinySession = await ort.InferenceSession.create(tinyModelBytes());
    const detPath = resolveNpmSource(PPOCR_V4_DET.sources[0] ?? "");
    if (!detPath) throw new Error("the PaddleOCR models are not installed");
    const detSession = await ort.InferenceSession.create(new Uint8Array(readFileSync(detPath)));
    const direct = async (s: ort.InferenceSession, t: Tensor) => {
      const feeds = { [s.inputNames[0] ?? "x"]: new ort.Tensor("float32", t.data as Float32Array, t.dims) };
      const t1 = performance.now();
      await s.run(feeds);
      return performance.now() - t1;
    };
    const viaNetwork = async (subnet: string, model: string, t: Tensor) => {
      const t1 = performance.now();
      const { response } = await client.infer({ subnet, model, inputs: { x: t } });
      if (response.state !== "returned") throw new Error(`request ${response.state}`);
      return performance.now() - t1;
    };
    // The session stream: the same paid, validated requests, pipelined on one socket.
    const stream = await client.openStream({ subnet: "default", model: "tiny-mlp" });
    const viaStream = async (model: string, t: Tensor) => {
      const t1 = performance.now();
      await stream.infer(model, { x: t });
      return performance.now() - t1;
    };

    const nTiny = quick ? 200 : 1000;
    const nDet = quick ? 10 : 40;
    log(`tiny model: ${nTiny} requests on a session stream, interleaved with direct runs`);
    for (let i = 0; i < 50; i++) {
      await viaStream("tiny-mlp", tinyInput);
      await direct(tinySession, tinyInput);
    }
    const tinyNet: number[] = [];
    const tinyDirect: number[] = [];
    for (let i = 0; i < nTiny; i++) {
      tinyNet.push(await viaStream("tiny-mlp", tinyInput));
      tinyDirect.push(await direct(tinySession, tinyInput));
    }
    log(`PaddleOCR detection 320x320: ${nDet} requests on the stream`);
    for (let i = 0; i < 3; i++) {
      await viaStream(PPOCR_V4_DET.id, detInput);
      await direct(detSession, detInput);
    }
    const detNet: number[] = [];
    const detDirect: number[] = [];
    for (let i = 0; i < nDet; i++) {
      detNet.push(await viaStream(PPOCR_V4_DET.id, detInput));
      detDirect.push(await direct(detSession, detInput));
    }

    const levels = quick ? [1, 16, 64, 256] : [1, 4, 16, 64, 128, 256];
    const seconds = quick ? 4 : 8;
    const sweep: SweepPoint[] = [];
    for (const c of levels) {
      log(`stream throughput: ${c} in flight for ${seconds} s`);
      sweep.push(await closedLoop(c, seconds * 1000, () => viaStream("tiny-mlp", tinyInput), log));
      log(`    ${sweep.at(-1)?.rps.toFixed(0)} requests/s, p99 ${sweep.at(-1)?.p99.toFixed(1)} ms`);
    }
    await stream.close();

    log("per-request HTTP API, for comparison");
    const httpN = quick ? 30 : 100;
    for (let i = 0; i < 5; i++) await viaNetwork("default", "tiny-mlp", tinyInput);
    const tinyHttp: number[] = [];
    for (let i = 0; i < httpN; i++) tinyHttp.push(await viaNetwork("default", "tiny-mlp", tinyInput));
    // Where a per-request call's time goes: the gateway's own timestamps of each state
    // (progress events), from the moment the client sent it. Measured on separate requests:
    // following the events adds a stream per request.
    const hops = new Map<string, number[]>();
    for (let i = 0; i < (quick ? 10 : 30); i++) {
      const seen = new Map<string, number>();
      const sent = Date.now();
      const { response } = await client.infer({
        subnet: "default",
        model: "tiny-mlp",
        inputs: { x: tinyInput },
        onProgress: (e) => {
          if (!seen.has(e.state)) seen.set(e.state, e.at);
        },
      });
      const done = Date.now();
      if (response.state !== "returned") throw new Error(`request ${response.state}`);
      for (const [state, at] of seen) hops.set(state, [...(hops.get(state) ?? []), at - sent]);
      hops.set("client_done", [...(hops.get("client_done") ?? []), done - sent]);
    }
    const hopFigures: Record<string, number> = {};
    for (const [state, xs] of hops) hopFigures[`http_hop_${state}_ms_p50`] = percentile(xs, 50);
    log(
      `    ${[...hops.keys()].map((k) => `${k} ${percentile(hops.get(k) ?? [], 50).toFixed(1)}`).join(", ")} (ms after sending, p50)`,
    );
    const httpLevels = quick ? [16] : [16, 64];
    const sweepHttp: SweepPoint[] = [];
    for (const c of httpLevels) {
      log(`HTTP throughput: ${c} in flight for ${seconds} s`);
      sweepHttp.push(
        await closedLoop(c, seconds * 1000, () => viaNetwork("default", "tiny-mlp", tinyInput), log),
      );
    }
    const p50 = (xs: number[]) => percentile(xs, 50);
    return {
      latency_ms_p50_tiny: p50(tinyNet),
      latency_ms_p95_tiny: percentile(tinyNet, 95),
      latency_ms_p99_tiny: percentile(tinyNet, 99),
      direct_ms_p50_tiny: p50(tinyDirect),
      added_latency_ms_p50_tiny: p50(tinyNet) - p50(tinyDirect),
      latency_ratio_p50_tiny: p50(tinyNet) / p50(tinyDirect),
      latency_ms_p50_ocr_det: p50(detNet),
      latency_ms_p99_ocr_det: percentile(detNet, 99),
      direct_ms_p50_ocr_det: p50(detDirect),
      added_latency_ms_p50_ocr_det: p50(detNet) - p50(detDirect),
      latency_ratio_p50_ocr_det: p50(detNet) / p50(detDirect),
      throughput_rps_tiny: Math.max(...sweep.map((s) => s.rps)),
      latency_ms_p50_tiny_http: p50(tinyHttp),
      added_latency_ms_p50_tiny_http: p50(tinyHttp) - p50(tinyDirect),
      throughput_rps_tiny_http: Math.max(...sweepHttp.map((s) => s.rps)),
      ...hopFigures,
      devnet_ready_ms: readyMs,
      sweep,
      sweep_http: sweepHttp,
    };
  } finally {
    await devnet.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

/** `concurrency` workers each sending the next request as soon as the last returns. */
async function closedLoop(
  concurrency: number,
  durationMs: number,
  send: () => Promise<number>,
  log: (msg: string) => void,
): Promise<SweepPoint> {
  const latencies: number[] = [];
  let errors = 0;
  const reasons = new Map<string, number>();
  const end = performance.now() + durationMs;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        try {
          latencies.push(await send());
        } catch (e) {
          errors++;
          const code = typeof e === "object" && e !== null && "code" in e ? String(e.code) : "";
          const why = `${code} ${e instanceof Error ? e.message : String(e)}`.slice(0, 160);
          reasons.set(why, (reasons.get(why) ?? 0) + 1);
        }
      }
    }),
  );
  const elapsed = (performance.now() - t0) / 1000;
  for (const [why, n] of reasons) log(`    ${n} x ${why}`);
  return {
    concurrency,
    rps: latencies.length / elapsed,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    errors,
  };
}

import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import {
  type ModelDescriptor,
  RequestId,
  SubnetId,
  type TaskFrame,
  type Tensor,
  tensorToJson,
} from "@ncn/protocol";
import { PPOCR_CLS, PPOCR_V4, PPOCR_V4_DET, resolveNpmSource, resolveOcrModels } from "@ncn/runtime";
import { loadOrt } from "@ncn/runtime/onnx";
import { tinyModelBytes, tinyModelDescriptor } from "@ncn/runtime/testing";
import { characterErrorRate, renderText } from "@ncn/runtime/testing/render-text";
import * as v from "valibot";
import { Agent } from "../../../agent/src/agent.ts";
import { loadConfig } from "../../../agent/src/config/config.ts";
import { TestGateway } from "../../../agent/src/testing/test-gateway.ts";
import { percentile } from "../stats.ts";

const REPO = resolve(import.meta.dir, "../../..");
const BENCH_SUBNET = v.parse(SubnetId, "bench");

export interface AgentFigures {
  [figure: string]: number;
}

interface Case {
  name: string;
  model: ModelDescriptor;
  bytes: Uint8Array;
  input: Tensor;
}

function cases(): Case[] {
  const rand = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 0.5);
  const file = (m: ModelDescriptor) => {
    const p = resolveNpmSource(m.sources[0] ?? "");
    if (!p) throw new Error(`${m.id} not installed`);
    return new Uint8Array(readFileSync(p));
  };
  const tinyBytes = tinyModelBytes();
  return [
    {
      name: "tiny",
      model: tinyModelDescriptor({ sources: ["file:/unused"] }),
      bytes: tinyBytes,
      input: { dtype: "float32", dims: [1, 4], data: rand(4) },
    },
    {
      name: "cls",
      model: PPOCR_CLS,
      bytes: file(PPOCR_CLS),
      input: { dtype: "float32", dims: [1, 3, 48, 192], data: rand(3 * 48 * 192) },
    },
    {
      name: "det320",
      model: PPOCR_V4_DET,
      bytes: file(PPOCR_V4_DET),
      input: { dtype: "float32", dims: [1, 3, 320, 320], data: rand(3 * 320 * 320) },
    },
  ];
}

/** Calls of `fn` per case, alternating so both sides see the same machine load. */
async function interleaved(
  n: number,
  a: () => Promise<unknown>,
  b: () => Promise<unknown>,
): Promise<[number[], number[]]> {
  const ta: number[] = [];
  const tb: number[] = [];
  for (let i = 0; i < Math.max(2, Math.ceil(n / 10)); i++) {
    await a();
    await b();
  }
  for (let i = 0; i < n; i++) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  return [ta, tb];
}

async function coldStart(cmd: string[], dataDir: string): Promise<number> {
  const g = new TestGateway({ heartbeatMs: 1000 });
  const t0 = performance.now();
  const p = Bun.spawn(
    [...cmd, "run", "--gateway", g.url, "--subnet", "bench", "--python", "off", "--log-level", "error"],
    {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: dataDir, NCN_DATA_DIR: dataDir },
      stdout: "ignore",
      stderr: "ignore",
    },
  );
  try {
    await g.waitFor("hello", () => true, 60_000);
    // Ready = authenticated: the gateway's welcome is written right after the hello.
    return performance.now() - t0;
  } finally {
    p.kill("SIGTERM");
    await p.exited;
    await g.stop();
  }
}

/**
 * Agent overhead per task against calling onnxruntime directly on the same model and
 * input, for a tiny model and two real ones: through the whole link (task frame over
 * loopback WebSocket -> parse, checks, inference, hashes, EIP-712 receipt, outbox ->
 * result frame) and through the executor alone. Also OCR per-stage times with its CER
 * on a rendered page, and cold start to ready (from source and, when built, the
 * single executable).
 */
export async function benchAgent(quick = false): Promise<AgentFigures> {
  const n = quick ? 20 : 100;
  const figures: AgentFigures = {};
  const dir = mkdtempSync(join(tmpdir(), "ncn-bench-agent-"));
  const g = new TestGateway({ heartbeatMs: 5000 });
  const config = loadConfig(
    {
      gateway: g.url,
      subnets: "bench",
      dataDir: join(dir, "agent"),
      maxConcurrency: "1",
      logLevel: "error",
      // The bench serves its models as file: sources from its own folder.
      modelDirs: dir,
    },
    {},
  );
  const agent = await Agent.create(config);
  agent.start();
  await agent.waitReady();
  const ort = await loadOrt();
  try {
    let seq = 0;
    for (const c of cases()) {
      const path = join(dir, `${c.name}.onnx`);
      writeFileSync(path, c.bytes);
      const model = { ...c.model, sources: [`file:${path}`] } as ModelDescriptor;
      const session = await ort.InferenceSession.create(c.bytes, agent.runtime.sessionOptions());
      const feeds = {
        [model.inputs[0]?.name ?? "x"]: new ort.Tensor("float32", c.input.data as Float32Array, c.input.dims),
      };
      const inputs = { [model.inputs[0]?.name ?? "x"]: tensorToJson(c.input) };
      const direct = () => session.run(feeds);
      const viaLink = async () => {
        const taskId = `b${++seq}:1`;
        const task: TaskFrame = {
          type: "task",
          taskId,
          requestId: v.parse(RequestId, `b${seq}`),
          subnet: BENCH_SUBNET,
          model,
          price: "1",
          deadline: Date.now() + 60_000,
          kind: "tensor",
          inputs,
        };
        g.send(task);
        await g.waitFor("result", (f) => f.taskId === taskId, 60_000);
      };
      const viaExecutor = () => agent.executor.execute({ kind: "tensor", model, inputs });
      const [d1, l] = await interleaved(n, direct, viaLink);
      const [d2, e] = await interleaved(n, direct, viaExecutor);
      const dp50 = percentile([...d1, ...d2], 50);
      figures[`${c.name}_direct_ms_p50`] = dp50;
      figures[`${c.name}_agent_link_ms_p50`] = percentile(l, 50);
      figures[`${c.name}_agent_link_ms_p90`] = percentile(l, 90);
      figures[`${c.name}_agent_executor_ms_p50`] = percentile(e, 50);
      figures[`${c.name}_link_overhead_ms`] = percentile(l, 50) - dp50;
      figures[`${c.name}_link_overhead_ratio`] = percentile(l, 50) / dp50;
      figures[`${c.name}_executor_overhead_ratio`] = percentile(e, 50) / dp50;
      await session.release();
      g.frames.length = 0;
    }

    // OCR: warm per-stage times and the character error rate on a rendered page.
    const lines = [
      "Invoice No. 4821 total EUR 1,250.00",
      "Due date: 2024-03-15",
      "Agents sign every receipt",
    ];
    const page = renderText({ lines, font: "sans", size: 28 });
    const models = await resolveOcrModels(PPOCR_V4, [], (m) => agent.store.load(m));
    await agent.executor.ocr.run(models, page);
    const stages: Record<string, number[]> = {};
    let cer = 0;
    const runs = quick ? 3 : 10;
    for (let i = 0; i < runs; i++) {
      const t0 = performance.now();
      const r = await agent.executor.ocr.run(models, page);
      const push = (k: string, ms: number) => {
        stages[k] = [...(stages[k] ?? []), ms];
      };
      push("total", performance.now() - t0);
      for (const [k, ms] of Object.entries(r.timings)) push(k, ms);
      cer = characterErrorRate(lines.join("\n"), r.lines.map((x) => x.text).join("\n"));
    }
    for (const [k, v] of Object.entries(stages)) figures[`ocr_${k}_ms_p50`] = percentile(v, 50);
    figures.ocr_cer = cer;
  } finally {
    await agent.stop(1000);
    await g.stop();
  }

  // Cold start: fresh data folder, process spawn to authenticated link.
  figures.cold_start_source_ms = await coldStart(
    [process.execPath, join(REPO, "agent", "src", "main.ts")],
    join(dir, "cold-src"),
  );
  const exe = join(REPO, "dist", "ncn-agent");
  if (existsSync(exe)) {
    figures.cold_start_exe_first_ms = await coldStart([exe], join(dir, "cold-exe"));
    // Second start: the embedded libraries are already extracted.
    figures.cold_start_exe_ms = await coldStart([exe], join(dir, "cold-exe"));
  }
  rmSync(dir, { recursive: true, force: true });
  return figures;
}

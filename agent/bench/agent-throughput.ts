/**
 * Agent throughput and per-task overhead on the tiny test model, through the loopback
 * test gateway, with the agent in this process.
 *
 *   bun agent/bench/agent-throughput.ts [--mode batch|each|both] [--tasks 20000]
 *                                       [--max-concurrency N] [--inflight 1,64]
 *
 * For each receipt mode and each number of tasks in flight it prints tasks/s, the
 * latency a gateway sees (task frame sent -> result received) and the agent's overhead:
 * that latency minus a WebSocket echo of frames of the same size over the same loopback
 * (transport) and minus onnxruntime run directly on the same input (inference), at one
 * task in flight; and the process CPU time per task (every thread, the in-process test
 * gateway's share included), the per-task cost when tasks are pipelined. The
 * number in flight is capped by the `maxConcurrency` the agent advertises, as a gateway
 * would cap it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { RequestId, SubnetId, type TaskFrame, tensorToJson } from "@ncn/protocol";
import { createLogger } from "@ncn/runtime/logger";
import { loadOrt } from "@ncn/runtime/onnx";
import { tinyModelBytes, tinyModelDescriptor } from "@ncn/runtime/testing";
import * as v from "valibot";
import { Agent } from "../src/agent.ts";
import { loadConfig } from "../src/config/config.ts";
import { type ReceivedFrame, TestGateway } from "../src/testing/test-gateway.ts";

type Mode = "each" | "batch";

const BENCH_SUBNET = v.parse(SubnetId, "bench");

const { values: args } = parseArgs({
  options: {
    mode: { type: "string", default: "both" },
    tasks: { type: "string", default: "20000" },
    inflight: { type: "string", default: "1,64" },
    "max-concurrency": { type: "string" },
  },
});
const modes: Mode[] = args.mode === "both" ? ["each", "batch"] : [args.mode === "each" ? "each" : "batch"];
const total = Number(args.tasks);
const inflights = args.inflight.split(",").map(Number);

function pct(samples: number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const s = [...samples].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? Number.NaN;
}

const dir = mkdtempSync(join(tmpdir(), "ncn-agent-throughput-"));
const modelPath = join(dir, "tiny.onnx");
writeFileSync(modelPath, tinyModelBytes());
const model = tinyModelDescriptor({ sources: [`file:${modelPath}`] });
const x = new Float32Array([1, -2, 3, 0.5]);
const inputs = { x: tensorToJson({ dtype: "float32", dims: [1, 4], data: x }) };

function task(id: number, mode: Mode): TaskFrame {
  return {
    type: "task",
    taskId: `t${id}:1`,
    requestId: v.parse(RequestId, `t${id}`),
    subnet: BENCH_SUBNET,
    model,
    price: "1",
    deadline: Date.now() + 60_000,
    kind: "tensor",
    inputs,
    receipts: mode,
  };
}

// ---- baselines ----------------------------------------------------------------------

async function ortDirect(n: number): Promise<number> {
  const ort = await loadOrt();
  const session = await ort.InferenceSession.create(tinyModelBytes(), { logSeverityLevel: 3 });
  const feeds = { x: new ort.Tensor("float32", x, [1, 4]) };
  const out: number[] = [];
  for (let i = 0; i < n + 200; i++) {
    const t0 = performance.now();
    await session.run(feeds);
    if (i >= 200) out.push(performance.now() - t0);
  }
  await session.release();
  return pct(out, 50);
}

/**
 * Transport alone: the server (gateway) sends a task-sized frame, the client (agent)
 * answers each with a result-sized frame, over the same loopback.
 */
async function wsEcho(n: number, request: string, reply: string): Promise<number> {
  const out: number[] = [];
  let t0 = 0;
  let left = n + 200;
  let done: () => void = () => {};
  const finished = new Promise<void>((r) => {
    done = r;
  });
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, s) => (s.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      open: (ws) => {
        t0 = performance.now();
        ws.send(request);
      },
      message: (ws) => {
        if (left-- <= n) out.push(performance.now() - t0);
        if (left <= 0) return done();
        t0 = performance.now();
        ws.send(request);
      },
    },
  });
  const client = new WebSocket(`ws://127.0.0.1:${server.port}`);
  client.addEventListener("message", () => client.send(reply));
  await finished;
  client.close();
  await server.stop(true);
  return pct(out, 50);
}

// ---- the agent ----------------------------------------------------------------------

interface Run {
  mode: Mode;
  inflight: number;
  tasks: number;
  seconds: number;
  latencies: number[];
  frames: number;
  answers: number;
  duplicates: number;
  errors: number;
  /** Process CPU time (every thread, the in-process gateway included) per task, µs. */
  cpuUsPerTask: number;
}

async function drive(g: TestGateway, mode: Mode, n: number, inflight: number, first: number): Promise<Run> {
  const sentAt = new Map<string, number>();
  const answered = new Set<string>();
  const latencies: number[] = [];
  let next = first;
  let done = 0;
  let frames = 0;
  let duplicates = 0;
  let errors = 0;
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  await new Promise<void>((resolve) => {
    const send = () => {
      const t = task(next++, mode);
      sentAt.set(t.taskId, performance.now());
      g.send(t);
    };
    const answer = (taskId: string) => {
      const at = sentAt.get(taskId);
      if (at === undefined) return;
      if (answered.has(taskId)) {
        duplicates++;
        return;
      }
      answered.add(taskId);
      latencies.push(performance.now() - at);
      done++;
      if (next - first < n) send();
      else if (done === n) resolve();
    };
    const off = g.onFrame((r: ReceivedFrame) => {
      const f = r.frame;
      if (f.type === "result") {
        frames++;
        answer(f.taskId);
      } else if (f.type === "results") {
        frames++;
        for (const item of f.items) answer(item.taskId);
      } else if (f.type === "error" && f.taskId) {
        errors++;
        answer(f.taskId);
      }
      if (done === n) off();
    });
    for (let i = 0; i < Math.min(inflight, n); i++) send();
  });
  const seconds = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  g.frames.length = 0;
  const cpuUsPerTask = (cpu.user + cpu.system) / n;
  return {
    mode,
    inflight,
    tasks: n,
    seconds,
    latencies,
    frames,
    answers: done,
    duplicates,
    errors,
    cpuUsPerTask,
  };
}

const g = new TestGateway({ heartbeatMs: 5000 });
// Per-task log lines are formatted as in production (level info) but not printed.
const log = createLogger("agent", { level: "info", sink: () => {} });
// The model is a local file: the folder it is in is the one file: sources may name.
const flags: Record<string, string> = {
  gateway: g.url,
  subnets: "bench",
  dataDir: join(dir, "agent"),
  modelDirs: dir,
};
if (args["max-concurrency"]) flags.maxConcurrency = args["max-concurrency"];
const agent = await Agent.create(loadConfig(flags, {}), { log });
agent.start();
await agent.waitReady();
const advertised = (await g.waitFor("hello")).capabilities.maxConcurrency;

try {
  const direct = await ortDirect(2000);
  // Frame sizes of one tiny task and one tiny result, measured on a real exchange.
  const probe = task(0, "each");
  g.send(probe);
  const res = await g.waitFor("result", (f) => f.taskId === probe.taskId);
  const echo = await wsEcho(2000, JSON.stringify(probe), JSON.stringify(res));
  g.frames.length = 0;
  console.log(`agent maxConcurrency advertised: ${advertised}`);
  console.log(
    `baselines (p50): onnxruntime direct ${direct.toFixed(3)} ms, loopback ws echo ${echo.toFixed(3)} ms`,
  );
  console.log(
    "mode   inflight  tasks    tasks/s   frames  items/frame  p50 ms   p90 ms   overhead p50 ms  cpu us/task  dup  err",
  );
  let id = 1;
  for (const mode of modes) {
    await drive(g, mode, 2000, 16, id); // warm-up
    id += 2000;
    for (const wanted of inflights) {
      const inflight = Math.min(wanted, advertised);
      const n = inflight === 1 ? Math.min(total, 3000) : total;
      const r = await drive(g, mode, n, inflight, id);
      id += n;
      const p50 = pct(r.latencies, 50);
      // At one in flight every task waits only for itself: what is left after transport
      // and inference is the agent's own per-task cost.
      const overhead = inflight === 1 ? (p50 - echo - direct).toFixed(3) : "-";
      console.log(
        [
          mode.padEnd(6),
          String(inflight).padStart(8),
          String(r.tasks).padStart(6),
          (r.tasks / r.seconds).toFixed(0).padStart(10),
          String(r.frames).padStart(8),
          (r.answers / r.frames).toFixed(1).padStart(12),
          p50.toFixed(3).padStart(8),
          pct(r.latencies, 90).toFixed(3).padStart(8),
          overhead.padStart(16),
          r.cpuUsPerTask.toFixed(0).padStart(12),
          String(r.duplicates).padStart(4),
          String(r.errors).padStart(4),
        ].join(" "),
      );
    }
  }
} finally {
  await agent.stop(1000);
  await g.stop();
  rmSync(dir, { recursive: true, force: true });
}

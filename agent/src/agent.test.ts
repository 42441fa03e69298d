import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToBase64,
  Capabilities,
  hashOcrLines,
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  merkleBatch,
  ncnDomain,
  type ResultBatchFrame,
  ResultBatchFrame as ResultBatchSchema,
  receiptDigest,
  receiptMessage,
  type TaskFrame,
  tensorFromJson,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import { EXECUTABLE_RUNTIMES, ppocrV4Task } from "@ncn/runtime";
import { NCN_GPT } from "@ncn/runtime/causal-lm";
import { sha256Hex } from "@ncn/runtime/onnx";
import {
  expandModel,
  externalDataModelBytes,
  externalDataModelDescriptor,
  slowLoopModel,
  tinyModelBytes,
  tinyModelDescriptor,
  tinyModelReference,
} from "@ncn/runtime/testing";
import { characterErrorRate, renderText } from "@ncn/runtime/testing/render-text";
import * as v from "valibot";
import { keccak256, recoverTypedDataAddress, stringToHex } from "viem";
import { Agent, type AgentOptions } from "./agent.ts";
import { loadConfig } from "./config/config.ts";
import { AgentError, ConfigError } from "./errors.ts";
import { TestGateway } from "./testing/test-gateway.ts";

const dirs: string[] = [];
const agents: Agent[] = [];
const gateways: TestGateway[] = [];
let modelServer: ReturnType<typeof Bun.serve>;
let modelDelayMs = 0;
let modelDir: string;

function temp(): string {
  const d = mkdtempSync(join(tmpdir(), "ncn-agent-"));
  dirs.push(d);
  return d;
}

beforeAll(() => {
  modelDir = temp();
  writeFileSync(join(modelDir, "tiny.onnx"), tinyModelBytes());
  // Serves the tiny model after a delay, to keep a task in flight on demand.
  modelServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch() {
      await Bun.sleep(modelDelayMs);
      return new Response(tinyModelBytes().slice());
    },
  });
});

afterEach(async () => {
  for (const a of agents.splice(0)) await a.stop(2000);
  for (const g of gateways.splice(0)) await g.stop();
  modelDelayMs = 0;
});

afterAll(() => {
  modelServer.stop(true);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function gateway(opts: ConstructorParameters<typeof TestGateway>[0] = {}): TestGateway {
  const g = new TestGateway({ heartbeatMs: 100, ...opts });
  gateways.push(g);
  return g;
}

async function agent(
  g: TestGateway,
  over: Record<string, string | undefined> = {},
  dataDir = temp(),
  options: AgentOptions = {},
): Promise<Agent> {
  // The local-development source settings: models come from a test folder and a loopback server.
  const config = loadConfig(
    {
      gateway: g.url,
      subnets: "ocr",
      dataDir,
      maxConcurrency: "2",
      logLevel: "error",
      modelDirs: modelDir,
      allowHttpSources: "true",
      allowPrivateSources: "true",
      ...over,
    },
    {},
  );
  const a = await Agent.create(config, { backoff: { baseMs: 20, maxMs: 200 }, ...options });
  agents.push(a);
  a.start();
  await a.waitReady(5000);
  return a;
}

let seq = 0;
function tensorTask(
  over: Partial<TaskFrame> = {},
  source = `file:${join(modelDir, "tiny.onnx")}`,
): TaskFrame {
  seq++;
  const x = new Float32Array([1, -2, 3, 0.5, 0, 1, 1, 1]);
  return {
    type: "task",
    taskId: `req-${seq}:1`,
    requestId: `req-${seq}` as never,
    subnet: "ocr" as never,
    model: tinyModelDescriptor({ sources: [source] }),
    price: "1000",
    deadline: Date.now() + 30_000,
    kind: "tensor",
    inputs: { x: tensorToJson({ dtype: "float32", dims: [2, 4], data: x }) },
    ...over,
  } as TaskFrame;
}

describe("gateway link", () => {
  test("authenticates with a signature that recovers to the agent and heartbeats its load", async () => {
    const g = gateway();
    const a = await agent(g);
    const hello = await g.waitFor("hello");
    const rec = g.frames.find((f) => f.frame.type === "hello");
    expect(rec?.signer).toBe(a.address.toLowerCase());
    expect(hello.agent).toBe(a.address.toLowerCase() as never);
    expect(hello.subnets).toEqual(["ocr"] as never);
    expect(v.is(Capabilities, hello.capabilities)).toBe(true);
    expect(hello.capabilities.runtimes).toEqual([...EXECUTABLE_RUNTIMES]);
    expect(hello.capabilities.maxConcurrency).toBe(2);
    const hb = await g.waitFor("heartbeat");
    expect(hb.load).toMatchObject({ running: 0, queued: 0 });
  });

  test("refuses to sign a challenge naming another gateway", async () => {
    const g = gateway({ gatewayName: "evil.example:443" });
    const config = loadConfig({ gateway: g.url, subnets: "ocr", dataDir: temp(), logLevel: "error" }, {});
    const a = await Agent.create(config, { backoff: { baseMs: 20, maxMs: 50 } });
    agents.push(a);
    a.start();
    await Bun.sleep(300);
    expect(g.received("hello").length).toBe(0);
    expect(g.authenticated()).toEqual([]);
  });

  test("runs a tensor task and returns the result with a valid signed receipt", async () => {
    const g = gateway();
    const a = await agent(g);
    const task = tensorTask() as Extract<TaskFrame, { kind: "tensor" }>;
    g.send(task);
    const res = await g.waitFor("result", (f) => f.taskId === task.taskId);
    expect(res.result.kind).toBe("tensor");
    if (res.result.kind !== "tensor") return;
    const y = tensorFromJson(res.result.outputs.y as never);
    const x = tensorFromJson(task.inputs.x as never);
    expect(Array.from(y.data as Float32Array)).toEqual(
      Array.from(tinyModelReference(x.data as Float32Array)),
    );
    const r = res.receipt.receipt;
    expect(r.requestId).toBe(idToBytes32(task.requestId) as never);
    expect(r.subnetId).toBe(idToBytes32("ocr") as never);
    expect(r.modelId).toBe(idToBytes32(task.model.id) as never);
    expect(r.modelHash).toBe(task.model.sha256 as never);
    expect(r.inputHash).toBe(
      hashTaskInput({ kind: "tensor", model: task.model.id, inputs: task.inputs }) as never,
    );
    expect(r.outputHash).toBe(hashTaskResult(res.result) as never);
    expect(r.price).toBe("1000");
    expect(r.finishedAt).toBeGreaterThanOrEqual(r.startedAt);
    const signer = await recoverTypedDataAddress({
      ...typedData(ncnDomain(g.chainId, g.verifyingContract), "InferenceReceipt", receiptMessage(r)),
      signature: res.receipt.signature,
    });
    expect(signer).toBe(a.address);
    expect(g.received("progress", (p) => p.taskId === task.taskId).length).toBeGreaterThan(0);
    await g.until(() => a.outbox.size === 0, 2000);
  });

  test("a generate task sent with stream: true streams its tokens in order, before its result, no progress frame ahead of them; without it, none", async () => {
    const g = gateway();
    await agent(g);
    const generate = (id: string, stream: boolean): TaskFrame => ({
      type: "task",
      taskId: `${id}:1`,
      requestId: id as never,
      subnet: "ocr" as never,
      model: NCN_GPT,
      price: "1000",
      deadline: Date.now() + 30_000,
      kind: "generate",
      prompt: "And God said",
      sampling: { max_tokens: 24, temperature: 0, top_p: 1, seed: 0, stop: [] },
      ...(stream ? { stream: true } : {}),
    });
    const streamed = generate("gen-stream", true);
    g.send(streamed);
    const res = await g.waitFor("result", (f) => f.taskId === streamed.taskId, 60_000);
    if (res.result.kind !== "generate") throw new Error("expected a generate result");
    const order = g.frames.map((f) => f.frame);
    const frames = g.received("tokens", (f) => f.taskId === streamed.taskId);
    expect(frames.length).toBeGreaterThan(0);
    // No "started" progress frame goes ahead of the first tokens to hold them up (a model
    // download still reports its progress).
    expect(g.received("progress", (f) => f.taskId === streamed.taskId).map((p) => p.stage)).not.toContain(
      "started",
    );
    // Every tokens frame came before the result frame.
    const resultAt = order.findIndex((f) => f.type === "result" && f.taskId === streamed.taskId);
    expect(order.findLastIndex((f) => f.type === "tokens" && f.taskId === streamed.taskId)).toBeLessThan(
      resultAt,
    );
    const deltas = frames.flatMap((f) => f.deltas);
    expect(deltas.map((d) => d.index)).toEqual(deltas.map((_, i) => i));
    expect(frames.every((f) => f.requestId === streamed.requestId)).toBe(true);
    expect(deltas.map((d) => d.text).join("")).toBe(res.result.text);
    expect(deltas.filter((d) => d.token !== null).map((d) => d.token)).toEqual(res.result.tokens);
    const plain = generate("gen-plain", false);
    g.send(plain);
    const plainRes = await g.waitFor("result", (f) => f.taskId === plain.taskId, 60_000);
    expect(plainRes.result).toEqual(res.result);
    expect(g.received("tokens", (f) => f.taskId === plain.taskId)).toEqual([]);
    expect(g.received("progress", (f) => f.taskId === plain.taskId).map((p) => p.stage)).toContain("started");
  }, 90_000);

  test("runs an OCR task with the built-in pipeline", async () => {
    const g = gateway();
    await agent(g);
    const image = renderText({ lines: ["Signed receipts", "for every task"], font: "sans", size: 36 });
    const { model, pipeline } = ppocrV4Task();
    const task: TaskFrame = {
      type: "task",
      taskId: "ocr-1:1",
      requestId: "ocr-1" as never,
      subnet: "ocr" as never,
      model,
      price: "5",
      deadline: Date.now() + 60_000,
      kind: "ocr",
      image: bytesToBase64(image),
      pipeline,
    };
    g.send(task);
    const res = await g.waitFor("result", (f) => f.taskId === "ocr-1:1", 30_000);
    if (res.result.kind !== "ocr") throw new Error("expected OCR lines");
    const text = res.result.lines.map((l) => l.text).join("\n");
    expect(characterErrorRate("Signed receipts\nfor every task", text)).toBeLessThan(0.05);
    expect(res.receipt.receipt.outputHash).toBe(hashOcrLines(res.result.lines) as never);
    expect(res.receipt.receipt.modelHash).toBe(model.sha256 as never);
    const stages = g.received("progress", (p) => p.taskId === "ocr-1:1").map((p) => p.stage);
    expect(stages).toEqual(expect.arrayContaining(["detect", "recognize"]));
  });

  test("a result finished while disconnected is delivered after the reconnect", async () => {
    const g = gateway();
    const a = await agent(g);
    modelDelayMs = 400;
    const task = tensorTask({}, `http://127.0.0.1:${modelServer.port}/tiny.onnx`);
    g.send(task);
    await g.waitFor("progress", (p) => p.taskId === task.taskId);
    g.dropAll();
    // The result is produced while the link is down (or coming back), then offered again.
    const hellos = () => g.received("hello");
    await g.until(() => hellos().length >= 2, 5000);
    const res = await g.waitFor("result", (f) => f.taskId === task.taskId, 5000);
    const conns = g.frames.filter((f) => f.frame.type === "result").map((f) => f.conn);
    expect(conns.length).toBeGreaterThan(0);
    expect(conns.every((c) => c > 1)).toBe(true);
    expect(res.receipt.receipt.requestId).toBe(idToBytes32(task.requestId) as never);
    expect(a.links.get("ocr")?.connects).toBeGreaterThanOrEqual(2);
    await g.until(() => a.outbox.size === 0, 2000);
  });

  test("an unacknowledged result survives a restart and is listed in hello.pending", async () => {
    const g = gateway({ autoAck: false });
    const dataDir = temp();
    const a = await agent(g, {}, dataDir);
    const task = tensorTask();
    g.send(task);
    await g.waitFor("result", (f) => f.taskId === task.taskId);
    expect(a.outbox.pending()).toEqual([task.taskId]);
    await a.stop(1000);
    agents.splice(agents.indexOf(a), 1);
    const before = g.received("result", (f) => f.taskId === task.taskId).length;
    const b = await agent(g, {}, dataDir);
    expect(b.address).toBe(a.address);
    const hello = g.received("hello").at(-1);
    expect(hello?.pending).toEqual([task.taskId]);
    await g.until(() => g.received("result", (f) => f.taskId === task.taskId).length > before, 3000);
    // The same task dispatched again gets the stored result (same signature), not a second run.
    const count = g.received("result", (f) => f.taskId === task.taskId).length;
    g.send({ ...task, deadline: Date.now() + 30_000 });
    await g.until(() => g.received("result", (f) => f.taskId === task.taskId).length > count, 3000);
    const sigs = new Set(
      g.received("result", (f) => f.taskId === task.taskId).map((r) => r.receipt.signature),
    );
    expect(sigs.size).toBe(1);
    g.send({ type: "ack", taskId: task.taskId });
    await g.until(() => b.outbox.size === 0, 2000);
  });

  test("malformed frames are answered with FRAME_INVALID and the link keeps working", async () => {
    const g = gateway();
    await agent(g);
    const bad = [
      "not json",
      JSON.stringify({ type: "task" }),
      JSON.stringify({ type: "bogus" }),
      JSON.stringify({ ...tensorTask(), taskId: "bad id with spaces" }),
      JSON.stringify({ ...tensorTask({ taskId: "t-bad:1" }), price: "-5" }),
    ];
    for (const b of bad) g.send(b);
    await g.until(() => g.received("error", (e) => e.code === "FRAME_INVALID").length >= bad.length, 3000);
    const errors = g.received("error", (e) => e.code === "FRAME_INVALID");
    expect(errors.length).toBe(bad.length);
    expect(errors.some((e) => e.taskId === "t-bad:1")).toBe(true);
    expect(errors.find((e) => e.message.includes("JSON"))).toBeDefined();
    const ok = tensorTask();
    g.send(ok);
    await g.waitFor("result", (f) => f.taskId === ok.taskId);
    expect(g.received("hello").length).toBe(1);
  });

  test("cancel stops a queued task; a past deadline is refused", async () => {
    const g = gateway();
    await agent(g, { maxConcurrency: "1" });
    modelDelayMs = 300;
    const slow = tensorTask({}, `http://127.0.0.1:${modelServer.port}/slow.onnx`);
    const queued = tensorTask();
    g.send(slow);
    g.send(queued);
    g.send({ type: "cancel", taskId: queued.taskId, reason: "client gave up" });
    const err = await g.waitFor("error", (e) => e.taskId === queued.taskId);
    expect(err.code).toBe("CANCELLED");
    await g.waitFor("result", (f) => f.taskId === slow.taskId);
    expect(g.received("result", (f) => f.taskId === queued.taskId)).toEqual([]);
    const late = tensorTask({ deadline: Date.now() - 1 });
    g.send(late);
    expect((await g.waitFor("error", (e) => e.taskId === late.taskId)).code).toBe("DEADLINE_EXCEEDED");
  });

  test("a task whose model hash does not match fails with MODEL_HASH_MISMATCH", async () => {
    const g = gateway();
    await agent(g);
    const t = tensorTask();
    const wrong = { ...t, model: { ...t.model, sha256: `0x${"11".repeat(32)}` } } as TaskFrame;
    g.send(wrong);
    expect((await g.waitFor("error", (e) => e.taskId === t.taskId)).code).toBe("MODEL_HASH_MISMATCH");
  });

  test("a task naming a file outside the model folder, or a private host, fails and the gateway learns nothing of it", async () => {
    const g = gateway();
    // The operator's production settings: no http, no private hosts, one model folder.
    await agent(g, { allowHttpSources: "false", allowPrivateSources: "false" });
    const secretDir = temp();
    const key = join(secretDir, "agent.key");
    const secret = new TextEncoder().encode("0x".padEnd(66, "5"));
    writeFileSync(key, secret);
    const t = tensorTask();
    const stealing = {
      ...t,
      model: {
        ...t.model,
        sha256: sha256Hex(secret),
        size: secret.byteLength,
        sources: [`file:${key}`, `https://127.0.0.1:${modelServer.port}/tiny.onnx`, `file:${modelDir}/../x`],
      },
    } as TaskFrame;
    g.send(stealing);
    const err = await g.waitFor("error", (e) => e.taskId === t.taskId);
    expect(err.code).toBe("FORBIDDEN");
    expect(err.message).toContain("file_off");
    expect(err.message).toContain("private_host");
    for (const leak of [
      key,
      secretDir,
      modelDir,
      String(secret.byteLength),
      sha256Hex(secret).slice(2),
      "5555",
    ])
      expect(err.message).not.toContain(leak);
  });
});

describe("hostile models", () => {
  test("a model whose weights name a file beside the working directory fails MODEL_REJECTED; no byte of the file reaches the gateway", async () => {
    // The agent runs from a folder where the file is reachable, as from $HOME with its key.
    const home = temp();
    const secret = new TextEncoder().encode(`0x${"5".repeat(64)}\n\n`);
    mkdirSync(join(home, ".local"), { recursive: true });
    writeFileSync(join(home, ".local", "agent.key"), secret);
    const g = gateway();
    const dataDir = temp();
    // Graph optimisation off: the setting under which both variants read the file when unchecked.
    await agent(g, { graphOpt: "disabled" }, dataDir);
    const before = process.cwd();
    process.chdir(home);
    try {
      for (const place of ["initializer", "subgraph"] as const) {
        const steal = { location: ".local/agent.key", length: secret.byteLength, place };
        const file = join(modelDir, `steal-${place}.onnx`);
        writeFileSync(file, externalDataModelBytes(steal));
        const t = tensorTask({
          model: externalDataModelDescriptor({ ...steal, sources: [`file:${file}`] }),
          inputs: {},
        });
        g.send(t);
        const err = await g.waitFor("error", (e) => e.taskId === t.taskId);
        expect(err.code).toBe("MODEL_REJECTED");
        expect(err.message).toContain('initializer "W"');
        expect(g.received("result", (f) => f.taskId === t.taskId)).toEqual([]);
      }
    } finally {
      process.chdir(before);
    }
    // Nothing sent carries the file, as text, as base64 or as the tensor's bytes.
    const sent = JSON.stringify(g.frames);
    for (const leak of ["5555", bytesToBase64(secret), bytesToBase64(secret.subarray(0, 12))])
      expect(sent).not.toContain(leak);
    expect(statSync(join(dataDir, "empty")).mode & 0o777).toBe(0o700);
  });
});

describe("bounds and pinned signing domain", () => {
  test("past the queue limit a task is refused UNAVAILABLE at once; the accepted ones finish", async () => {
    const g = gateway();
    await agent(g, { maxConcurrency: "1", maxQueued: "1" });
    modelDelayMs = 800;
    const slow = tensorTask({}, `http://127.0.0.1:${modelServer.port}/tiny.onnx`);
    const queued = tensorTask({}, `http://127.0.0.1:${modelServer.port}/tiny.onnx`);
    const extra = tensorTask({}, `http://127.0.0.1:${modelServer.port}/tiny.onnx`);
    g.send({ type: "tasks", tasks: [slow, queued, extra] });
    const refused = await g.waitFor("error", (e) => e.taskId === extra.taskId);
    expect(refused.code).toBe("UNAVAILABLE");
    expect(g.received("result")).toEqual([]);
    await g.waitFor("result", (f) => f.taskId === slow.taskId);
    await g.waitFor("result", (f) => f.taskId === queued.taskId);
    expect(g.received("error", (e) => e.taskId !== extra.taskId)).toEqual([]);
  });

  test("a gateway that never acknowledges fills the outbox: new tasks are refused until it acks", async () => {
    const g = gateway({ autoAck: false });
    const a = await agent(g, {}, temp(), { outboxMaxBytes: 1 });
    const first = tensorTask();
    g.send(first);
    await g.waitFor("result", (f) => f.taskId === first.taskId);
    expect(a.outbox.bytes).toBeGreaterThan(0);
    const second = tensorTask();
    g.send(second);
    const refused = await g.waitFor("error", (e) => e.taskId === second.taskId);
    expect(refused.code).toBe("UNAVAILABLE");
    expect(refused.message).toContain("acknowledgement");
    g.send({ type: "ack", taskId: first.taskId });
    await g.until(() => a.outbox.bytes === 0);
    const third = tensorTask();
    g.send(third);
    await g.waitFor("result", (f) => f.taskId === third.taskId);
  });

  test("a gateway whose challenge names another chain or contract than the pinned ones gets no hello; the pinned one is served", async () => {
    const pin = { chainId: "8453", paymentContract: `0x${"ab".repeat(20)}` };
    const wrongChain = gateway({ verifyingContract: `0x${"ab".repeat(20)}` });
    const wrongContract = gateway({ chainId: 8453 });
    for (const g of [wrongChain, wrongContract]) {
      const config = loadConfig(
        { gateway: g.url, subnets: "ocr", dataDir: temp(), logLevel: "error", ...pin },
        {},
      );
      const a = await Agent.create(config, { backoff: { baseMs: 20, maxMs: 100 } });
      agents.push(a);
      a.start();
      let err: unknown;
      try {
        // Several challenges: every reconnect is refused the same way.
        await Bun.sleep(300);
        await a.waitReady(2000);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(AgentError);
      expect((err as AgentError).code).toBe("FORBIDDEN");
      expect(g.received("hello")).toEqual([]);
    }
    const right = gateway({ chainId: 8453, verifyingContract: `0x${"ab".repeat(20)}` });
    await agent(right, pin);
    const t = tensorTask();
    right.send(t);
    const res = await right.waitFor("result", (f) => f.taskId === t.taskId);
    const signer = await recoverTypedDataAddress({
      ...typedData(
        ncnDomain(8453, `0x${"ab".repeat(20)}`),
        "InferenceReceipt",
        receiptMessage(res.receipt.receipt),
      ),
      signature: res.receipt.signature,
    });
    expect(signer.toLowerCase()).toBe(String(right.received("hello")[0]?.agent));
  });

  test("a published development key is refused with a gateway not on this machine, accepted on loopback", async () => {
    const devKey = keccak256(stringToHex("ncn-dev:agent-0"));
    const remote = loadConfig(
      {
        gateway: "wss://gw.example",
        subnets: "ocr",
        dataDir: temp(),
        chainId: "8453",
        paymentContract: `0x${"ab".repeat(20)}`,
      },
      { NCN_PRIVATE_KEY: devKey },
    );
    let err: unknown;
    try {
      agents.push(await Agent.create(remote));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain("published development key");
    expect((err as ConfigError).message).not.toContain(devKey.slice(2));
    const g = gateway();
    await agent(g, { privateKey: devKey });
  });

  test("every state file and folder in the data folder is private to the agent's user", async () => {
    const dataDir = temp();
    chmodSync(dataDir, 0o755);
    const g = gateway({ autoAck: false });
    await agent(g, {}, dataDir);
    for (const t of [tensorTask(), tensorTask({}, `http://127.0.0.1:${modelServer.port}/tiny.onnx`)]) {
      g.send(t);
      await g.waitFor("result", (f) => f.taskId === t.taskId);
    }
    const open: string[] = [];
    const walk = (path: string) => {
      const st = statSync(path);
      if (st.mode & 0o077) open.push(`${path} ${(st.mode & 0o777).toString(8)}`);
      if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name));
    };
    walk(dataDir);
    expect(open).toEqual([]);
    expect(readdirSync(dataDir).sort()).toEqual(["agent.key", "empty", "models", "outbox"]);
  });
});

describe("batch receipts (stream mode)", () => {
  function batchTask(i: number, over: Partial<TaskFrame> = {}): Extract<TaskFrame, { kind: "tensor" }> {
    const x = new Float32Array([i, -1, 0.5 * i, 2]);
    return tensorTask({
      receipts: "batch",
      inputs: { x: tensorToJson({ dtype: "float32", dims: [1, 4], data: x }) },
      ...over,
    } as Partial<TaskFrame>) as Extract<TaskFrame, { kind: "tensor" }>;
  }

  /** Checks a results frame as a gateway would: root over the items, signer, every receipt. */
  async function verifyBatch(g: TestGateway, a: Agent, f: ResultBatchFrame, sent: Map<string, TaskFrame>) {
    expect(v.is(ResultBatchSchema, f)).toBe(true);
    const domain = ncnDomain(g.chainId, g.verifyingContract);
    expect(f.receiptsRoot).toBe(
      merkleBatch(f.items.map((i) => receiptDigest(domain, i.receipt))).root as never,
    );
    const signer = await recoverTypedDataAddress({
      ...typedData(domain, "ReceiptBatch", {
        agent: a.address,
        receiptsRoot: f.receiptsRoot,
        count: f.items.length,
      }),
      signature: f.signature,
    });
    expect(signer).toBe(a.address);
    for (const item of f.items) {
      const task = sent.get(item.taskId) as Extract<TaskFrame, { kind: "tensor" }>;
      expect(task).toBeDefined();
      const r = item.receipt;
      expect(r.agent).toBe(a.address.toLowerCase() as never);
      expect(r.requestId).toBe(idToBytes32(task.requestId) as never);
      expect(r.subnetId).toBe(idToBytes32("ocr") as never);
      expect(r.modelHash).toBe(task.model.sha256 as never);
      expect(r.inputHash).toBe(
        hashTaskInput({ kind: "tensor", model: task.model.id, inputs: task.inputs }) as never,
      );
      expect(r.outputHash).toBe(hashTaskResult(item.result) as never);
      if (item.result.kind !== "tensor") throw new Error("expected tensors");
      const x = tensorFromJson(task.inputs.x as never).data as Float32Array;
      const y = tensorFromJson(item.result.outputs.y as never).data as Float32Array;
      const ref = tinyModelReference(x);
      y.forEach((val, k) => {
        expect(val).toBeCloseTo(ref[k] as number, 5);
      });
    }
  }

  const answered = (g: TestGateway) => g.received("results").flatMap((f) => f.items.map((i) => i.taskId));

  test("batch-mode results come in results frames whose root matches and whose signature recovers", async () => {
    const g = gateway();
    const a = await agent(g, { maxConcurrency: "8" });
    const tasks = Array.from({ length: 6 }, (_, i) => batchTask(i + 1));
    const sent = new Map<string, TaskFrame>(tasks.map((t) => [t.taskId, t]));
    for (const t of tasks) g.send(t);
    await g.until(() => answered(g).length >= tasks.length, 10_000);
    const frames = g.received("results");
    for (const f of frames) await verifyBatch(g, a, f, sent);
    expect(answered(g).sort()).toEqual([...sent.keys()].sort());
    // No single receipts, and no per-task progress but the (first) model download.
    expect(g.received("result")).toEqual([]);
    expect(g.received("progress", (p) => sent.has(p.taskId) && p.stage !== "download")).toEqual([]);
    // The gateway's acks empty the outbox.
    await g.until(() => a.outbox.size === 0, 2000);
  });

  test("many pipelined tasks are batched: fewer frames than tasks, each task answered once", async () => {
    const g = gateway();
    // The default maxConcurrency lets a gateway keep well over 64 tasks in flight. The queue
    // takes the whole burst: with the default (256), a machine slow enough to receive all 400
    // frames before running any refuses the last ones (UNAVAILABLE), which is right, but not
    // what this test is about.
    const a = await agent(g, { maxConcurrency: undefined, maxQueued: "512" });
    const hello = await g.waitFor("hello");
    expect(hello.capabilities.maxConcurrency).toBeGreaterThanOrEqual(64);
    // Warm the model so the burst below measures the steady state.
    const warm = batchTask(0);
    g.send(warm);
    await g.until(() => answered(g).includes(warm.taskId), 10_000);
    const n = 400;
    const tasks = Array.from({ length: n }, (_, i) => batchTask(i + 1));
    const sent = new Map<string, TaskFrame>(tasks.map((t) => [t.taskId, t]));
    const before = g.received("results").length;
    for (const t of tasks) g.send(t);
    // An error frame ends the wait at once, so a refusal shows as itself, not as a timeout.
    await g.until(
      () => answered(g).filter((id) => sent.has(id)).length >= n || g.received("error").length > 0,
      30_000,
    );
    expect(g.received("error")).toEqual([]);
    await Bun.sleep(50);
    const frames = g.received("results").slice(before);
    const ids = frames.flatMap((f) => f.items.map((i) => i.taskId));
    expect(ids.length).toBe(n);
    expect(new Set(ids).size).toBe(n);
    expect(frames.length).toBeLessThan(n / 4);
    expect(Math.max(...frames.map((f) => f.items.length))).toBeLessThanOrEqual(256);
    for (const f of frames) await verifyBatch(g, a, f, sent);
    expect(g.received("error")).toEqual([]);
    await g.until(() => a.outbox.size === 0, 2000);
  });

  test("a lone batch-mode task is flushed at once, in a results frame of one", async () => {
    const g = gateway();
    // With a one-minute batch window, only the flush-when-alone rule can answer in time.
    const a = await agent(g, {}, temp(), { batchMaxWaitMs: 60_000 });
    for (let i = 1; i <= 3; i++) {
      const t = batchTask(i);
      const t0 = performance.now();
      g.send(t);
      const f = await g.waitFor("results", (r) => r.items.some((x) => x.taskId === t.taskId), 5_000);
      expect(performance.now() - t0).toBeLessThan(2_000);
      expect(f.items.map((x) => x.taskId)).toEqual([t.taskId]);
      await verifyBatch(g, a, f, new Map([[t.taskId, t]]));
    }
  });

  test("while other batch work runs, finished results go out when the batch window closes", async () => {
    const g = gateway();
    const a = await agent(g, { maxConcurrency: "8" }, temp(), { batchMaxWaitMs: 40 });
    // A batch-mode task stuck downloading (a slow source, then a hash mismatch) keeps
    // batch work in flight while quick ones finish.
    modelDelayMs = 800;
    const stuck = batchTask(99, {}) as TaskFrame;
    const slow = {
      ...stuck,
      model: {
        ...stuck.model,
        sha256: `0x${"22".repeat(32)}`,
        sources: [`http://127.0.0.1:${modelServer.port}/slow.onnx`],
      },
    } as TaskFrame;
    g.send(slow);
    await Bun.sleep(20);
    const quick = [batchTask(1), batchTask(2)];
    const sent = new Map<string, TaskFrame>(quick.map((t) => [t.taskId, t]));
    for (const t of quick) g.send(t);
    await g.until(() => quick.every((t) => answered(g).includes(t.taskId)), 5_000);
    // Answered by the window while the stuck task still runs.
    expect(g.received("error", (e) => e.taskId === slow.taskId)).toEqual([]);
    for (const f of g.received("results")) await verifyBatch(g, a, f, sent);
    const err = await g.waitFor("error", (e) => e.taskId === slow.taskId, 5_000);
    expect(err.code).toBe("MODEL_HASH_MISMATCH");
    // A download is the one progress a batch-mode task reports.
    expect(g.received("progress", (p) => p.taskId === slow.taskId).map((p) => p.stage)).toEqual(["download"]);
  });

  test('"each" mode is unchanged beside batch mode: own result frames, signed receipts, progress', async () => {
    const g = gateway();
    const a = await agent(g, { maxConcurrency: "8" });
    const each = tensorTask({ receipts: "each" } as Partial<TaskFrame>);
    const plain = tensorTask();
    const batched = batchTask(5);
    for (const t of [each, batched, plain]) g.send(t);
    for (const t of [each, plain]) {
      const res = await g.waitFor("result", (f) => f.taskId === t.taskId);
      const signer = await recoverTypedDataAddress({
        ...typedData(
          ncnDomain(g.chainId, g.verifyingContract),
          "InferenceReceipt",
          receiptMessage(res.receipt.receipt),
        ),
        signature: res.receipt.signature,
      });
      expect(signer).toBe(a.address);
      expect(res.receipt.receipt.outputHash).toBe(hashTaskResult(res.result) as never);
      expect(g.received("progress", (p) => p.taskId === t.taskId).map((p) => p.stage)).toContain("started");
    }
    const f = await g.waitFor("results", (r) => r.items.some((i) => i.taskId === batched.taskId));
    await verifyBatch(g, a, f, new Map([[batched.taskId, batched]]));
    expect(answered(g)).toEqual([batched.taskId]);
    expect(
      g
        .received("result")
        .map((r) => r.taskId)
        .sort(),
    ).toEqual([each.taskId, plain.taskId].sort());
    await g.until(() => a.outbox.size === 0, 2000);
  });

  test("an unacknowledged batch is offered again after a reconnect, then dropped on its acks", async () => {
    const g = gateway({ autoAck: false });
    const a = await agent(g, { maxConcurrency: "8" });
    const tasks = [batchTask(1), batchTask(2), batchTask(3)];
    const sent = new Map<string, TaskFrame>(tasks.map((t) => [t.taskId, t]));
    for (const t of tasks) g.send(t);
    await g.until(() => answered(g).length >= 3, 5_000);
    const first = g.frames.filter((r) => r.frame.type === "results");
    const roots = new Set(g.received("results").map((f) => f.receiptsRoot));
    expect(a.outbox.size).toBe(3);
    expect(a.outbox.pending().sort()).toEqual([...sent.keys()].sort());

    g.dropAll();
    await g.until(() => g.received("hello").length >= 2, 5_000);
    expect(g.received("hello").at(-1)?.pending?.sort()).toEqual([...sent.keys()].sort());
    await g.until(
      () =>
        g.frames.filter((r) => r.frame.type === "results" && r.conn !== first[0]?.conn).length >= roots.size,
      5_000,
    );
    const again = g.frames
      .filter((r) => r.frame.type === "results" && r.conn !== first[0]?.conn)
      .map((r) => r.frame as ResultBatchFrame);
    // The very frames stored before the drop: same roots, same signatures.
    expect(new Set(again.map((f) => f.receiptsRoot))).toEqual(roots);
    for (const f of again) {
      await verifyBatch(g, a, f, sent);
      const orig = g.received("results", (o) => o.receiptsRoot === f.receiptsRoot)[0];
      expect(f.signature).toBe(orig?.signature as never);
    }
    // A task dispatched again while its batch waits for acks gets that batch, not a rerun.
    const count = g.received("results").length;
    const t1 = tasks[0] as TaskFrame;
    g.send({ ...t1, deadline: Date.now() + 30_000 });
    await g.until(() => g.received("results").length > count, 3_000);
    expect(roots.has(g.received("results").at(-1)?.receiptsRoot as never)).toBe(true);
    for (const root of roots) g.send({ type: "acks", receiptsRoot: root });
    await g.until(() => a.outbox.size === 0, 2000);
  });
});

// Last in the file: the run given up at the time limit keeps a core busy for a while after.
describe("model run limits", () => {
  test("a model past the run time limit is answered MODEL_TIMEOUT with no receipt, a model past the output limit MODEL_LIMIT_EXCEEDED; the agent serves the next task", async () => {
    const g = gateway();
    await agent(g, { maxRunSeconds: "1", maxOutputMb: "1" });
    const x = tensorToJson({ dtype: "float32", dims: [1], data: new Float32Array([1]) });
    // Ten million Loop iterations: seconds on any machine, past the one-second limit.
    const slow = slowLoopModel(10_000_000);
    const big = expandModel([1024, 1024], false); // 4 MiB of float32 output
    for (const [name, m] of [
      ["slow", slow],
      ["big", big],
    ] as const) {
      const file = join(modelDir, `limit-${name}.onnx`);
      writeFileSync(file, m.bytes);
      const t = tensorTask({ model: { ...m.descriptor, sources: [`file:${file}`] }, inputs: { x } });
      g.send(t);
      const err = await g.waitFor("error", (e) => e.taskId === t.taskId, 30_000);
      expect(err.code).toBe(name === "slow" ? "MODEL_TIMEOUT" : "MODEL_LIMIT_EXCEEDED");
      // No result, so no signed receipt: nothing can be charged for it.
      expect(g.received("result", (f) => f.taskId === t.taskId)).toEqual([]);
    }
    const next = tensorTask();
    g.send(next);
    const done = await g.waitFor("result", (f) => f.taskId === next.taskId);
    expect(done.result.kind).toBe("tensor");
  }, 60_000);
});

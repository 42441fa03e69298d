import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToBase64,
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  merkleBatch,
  ncnDomain,
  type ReceiptJson,
  receiptDigest,
  receiptMessage,
  GatewayToAgentFrame,
  type TaskFrame,
  TaskFrame as TaskFrameSchema,
  type TaskResult,
  type TensorJson,
  tensorFromJson,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import {
  bodyText,
  FUZZ_RUNS,
  FUZZ_SEED,
  fuzzBodies,
  hexDigits,
  hostileValue,
  truncatedJson,
} from "@ncn/protocol/testing/fuzz";
import fc from "fast-check";
import * as v from "valibot";
import { recoverTypedDataAddress } from "viem";
import { Agent } from "./agent.ts";
import { loadConfig } from "./config/config.ts";
import { ppocrV4Task } from "./ocr/builtin-models.ts";
import type { ReceivedFrame } from "./testing/test-gateway.ts";
import { TestGateway } from "./testing/test-gateway.ts";
import { tinyModelBytes, tinyModelDescriptor, tinyModelReference } from "./testing/tiny-model.ts";

// Property-based tests over the frames a compute agent receives from its gateway: a real
// agent (onnxruntime, model store, outbox) connected to a loopback gateway gets random,
// mutated, truncated and interleaved frames, huge tensors, wrong dtypes and dims, deep
// nesting and binary frames. It must answer with typed error frames or ignore them, keep
// its link, sign a receipt only for a well-formed task (and only one that binds exactly
// that task and its real result), and still serve a valid task afterwards.

const params = { seed: FUZZ_SEED, numRuns: FUZZ_RUNS, endOnFailure: true } as const;
const SUBNET = "fz";
/** Task ids in base frames; each case gets its own in their place. */
const PLACEHOLDER = "fz-task";

let dir: string;
let gw: TestGateway;
let agent: Agent;
let modelSource: string;
const domain = () => ncnDomain(gw.chainId, gw.verifyingContract);

/** Every task frame sent to the agent, by task id. */
const sentTasks = new Map<string, unknown[]>();
/** Answers the agent gave per task id (result, results item or error). */
const answered = new Map<string, string>();
const problems: string[] = [];
const receiptChecks: Promise<void>[] = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "ncn-agent-fuzz-"));
  writeFileSync(join(dir, "tiny.onnx"), tinyModelBytes());
  modelSource = `file:${join(dir, "tiny.onnx")}`;
  gw = new TestGateway({ heartbeatMs: 60_000 });
  gw.onFrame(onAgentFrame);
  const config = loadConfig(
    {
      gateway: gw.url,
      subnets: SUBNET,
      dataDir: join(dir, "data"),
      maxConcurrency: "2",
      logLevel: "error",
      modelDirs: dir,
    },
    {},
  );
  agent = await Agent.create(config, { backoff: { baseMs: 20, maxMs: 200 } });
  agent.start();
  await agent.waitReady(10_000);
}, 60_000);

afterAll(async () => {
  await agent?.stop(2000);
  await gw?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Checks every frame the agent sends as it arrives. */
function onAgentFrame(r: ReceivedFrame): void {
  const f = r.frame;
  if (f.type === "unparsed") problems.push(`agent sent a frame that breaks the protocol: ${f.text.slice(0, 200)}`);
  else if (f.type === "error") {
    if (f.code === "INTERNAL") problems.push(`agent answered INTERNAL: ${f.message}`);
    if (f.taskId) answered.set(f.taskId, `error ${f.code}`);
  } else if (f.type === "result") {
    answered.set(f.taskId, "result");
    receiptChecks.push(
      checkReceipt(f.taskId, f.result, f.receipt.receipt, f.receipt.signature).catch((e: unknown) => {
        problems.push(String(e));
      }),
    );
  } else if (f.type === "results") {
    for (const item of f.items) answered.set(item.taskId, "result");
    receiptChecks.push(
      (async () => {
        const tree = merkleBatch(f.items.map((i) => receiptDigest(domain(), i.receipt)));
        if (tree.root !== f.receiptsRoot) throw new Error("results frame root does not cover its receipts");
        const signer = await recoverTypedDataAddress({
          ...typedData(domain(), "ReceiptBatch", {
            agent: agent.address.toLowerCase() as `0x${string}`,
            receiptsRoot: f.receiptsRoot,
            count: f.items.length,
          }),
          signature: f.signature,
        });
        if (signer !== agent.address) throw new Error("results frame not signed by the agent");
        for (const item of f.items) await checkReceipt(item.taskId, item.result, item.receipt);
      })().catch((e: unknown) => {
        problems.push(String(e));
      }),
    );
  }
}

/**
 * A signed receipt must answer a task that was well-formed, bind exactly its ids, price,
 * model, input and result, and the result must be the model's real output for that input.
 */
async function checkReceipt(
  taskId: string,
  result: unknown,
  receipt: ReceiptJson,
  signature?: `0x${string}`,
): Promise<void> {
  const sent = sentTasks.get(taskId) ?? [];
  const wellFormed = sent.flatMap((t) => {
    const parsed = v.safeParse(TaskFrameSchema, t);
    return parsed.success ? [parsed.output] : [];
  });
  if (wellFormed.length === 0)
    throw new Error(`receipt signed for a malformed task ${taskId}: ${JSON.stringify(sent[0])?.slice(0, 300)}`);
  const mismatches = wellFormed.map((task) => receiptMismatch(task, result, receipt));
  if (!mismatches.includes(undefined)) throw new Error(`task ${taskId}: ${mismatches[0]}`);
  if (signature) {
    const signer = await recoverTypedDataAddress({
      ...typedData(domain(), "InferenceReceipt", receiptMessage(receipt)),
      signature,
    });
    if (signer !== agent.address) throw new Error(`receipt of ${taskId} not signed by the agent`);
  }
}

/** What in `receipt` or `result` does not answer `task` (undefined when everything does). */
function receiptMismatch(task: TaskFrame, result: unknown, receipt: ReceiptJson): string | undefined {
  if (task.kind !== "tensor") return "receipt signed for an OCR task whose image is not an image";
  const want = {
    requestId: idToBytes32(task.requestId),
    subnetId: idToBytes32(task.subnet),
    modelId: idToBytes32(task.model.id),
    modelHash: task.model.sha256,
    inputHash: hashTaskInput({ kind: "tensor", model: task.model.id, inputs: task.inputs }),
    outputHash: hashTaskResult(result as TaskResult),
    agent: agent.address.toLowerCase(),
    price: task.price,
  };
  for (const [k, value] of Object.entries(want)) {
    if ((receipt as Record<string, unknown>)[k] !== value) return `receipt ${k} does not bind the task`;
  }
  const x = task.inputs.x;
  if (!x || x.dtype !== "float32") return "ran without a float32 input x";
  const y = (result as { outputs?: Record<string, TensorJson> }).outputs?.y;
  if (!y) return "no output y";
  const expected = tinyModelReference(tensorFromJson(x).data as Float32Array);
  const got = tensorFromJson(y).data as Float32Array;
  if (got.length !== expected.length || got.some((g, i) => Math.abs(g - (expected[i] ?? 0)) > 1e-4))
    return "the signed result is not the model's output";
  return undefined;
}

function tensorTask(over: Record<string, unknown> = {}): Record<string, unknown> {
  const x = new Float32Array([1, -2, 3, 0.5, 0, 1, 1, 1]);
  return {
    type: "task",
    taskId: PLACEHOLDER,
    requestId: "fz-req",
    subnet: SUBNET,
    model: tinyModelDescriptor({ sources: [modelSource] }),
    price: "1000",
    deadline: Date.now() + 3_600_000,
    kind: "tensor",
    inputs: { x: tensorToJson({ dtype: "float32", dims: [2, 4], data: x }) },
    ...over,
  };
}

/** An OCR task whose image is not an image: the pipeline must refuse it before signing. */
function ocrTask(): Record<string, unknown> {
  const { model, pipeline } = ppocrV4Task();
  return {
    ...tensorTask(),
    kind: "ocr",
    model,
    pipeline,
    inputs: undefined,
    image: bytesToBase64(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6, 7, 8])),
  };
}

/** Tensors: wrong dtypes, dims that do not match the data or the model, huge shapes. */
const hostileTensor = fc
  .tuple(
    fc.constantFrom("float32", "float64", "int8", "int32", "int64", "uint8", "bool", "float16", "string", "cfloat"),
    fc.oneof(
      fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 9 }),
      fc.constantFrom([2, 4], [0, 4], [1, 4, 1], [4], [], [2 ** 31, 2 ** 31], [1e9, 4], [2 ** 26, 4], [-1, 4], [1.5, 4]),
    ),
    fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 64 }), weight: 8 },
      { arbitrary: fc.constantFrom(32, 64, 4 * 1024 * 1024), weight: 1 },
    ),
  )
  .map(([dtype, dims, bytes]) => ({ dtype, dims, data: Buffer.alloc(bytes, 0x3f).toString("base64") }));

const base = {
  task: () => tensorTask(),
  batchTask: () => tensorTask({ receipts: "batch" }),
  cancel: () => ({ type: "cancel", taskId: PLACEHOLDER, reason: "client went away" }),
  ack: () => ({ type: "ack", taskId: PLACEHOLDER }),
  acks: () => ({ type: "acks", receiptsRoot: `0x${"ab".repeat(32)}` }),
  error: () => ({ type: "error", taskId: PLACEHOLDER, code: "CANCELLED", message: "gone" }),
  challenge: () => ({
    type: "challenge",
    v: 1,
    nonce: `0x${"11".repeat(32)}`,
    gateway: gw.host,
    chainId: gw.chainId,
    verifyingContract: gw.verifyingContract,
    serverTime: Date.now(),
  }),
  welcome: () => ({ type: "welcome", agent: agent.address.toLowerCase(), heartbeatMs: 1000 }),
};

let cases = 0;
let ids = 0;

/** Gives every placeholder task id in `frame` (at any depth of a tasks frame) an id of its own. */
function ownIds(frame: unknown): unknown {
  if (typeof frame !== "object" || frame === null || Array.isArray(frame) || frame instanceof Uint8Array)
    return frame;
  const o = { ...(frame as Record<string, unknown>) };
  if (typeof o.taskId === "string" && o.taskId.startsWith(PLACEHOLDER)) o.taskId = `fz-${++ids}`;
  if (Array.isArray(o.tasks)) o.tasks = o.tasks.map(ownIds);
  return o;
}

type Outgoing = unknown;

/**
 * Sends `frames`, then a probe the agent must answer with a typed error; waits for that
 * answer and for an answer to every well-formed task sent, then checks that the link held
 * and that nothing went wrong.
 */
async function deliver(frames: Outgoing[]): Promise<void> {
  const n = ++cases;
  const tasks: string[] = [];
  const connects = agent.links.get(SUBNET)?.connects;
  for (const raw of frames) {
    const f = ownIds(raw);
    if (f instanceof Uint8Array) {
      gw.send(f);
      continue;
    }
    const frame = f as { type?: unknown; tasks?: unknown };
    const list = frame?.type === "tasks" && Array.isArray(frame.tasks) ? frame.tasks : [frame];
    for (const t of list as { taskId?: unknown }[]) {
      if (t && typeof t === "object" && typeof t.taskId === "string") {
        sentTasks.set(t.taskId, [...(sentTasks.get(t.taskId) ?? []), t]);
      }
    }
    // A well-formed task (or tasks) frame must be answered: a result or a typed error.
    const parsed = v.safeParse(GatewayToAgentFrame, f);
    if (parsed.success && parsed.output.type === "task") tasks.push(parsed.output.taskId);
    if (parsed.success && parsed.output.type === "tasks") tasks.push(...parsed.output.tasks.map((t) => t.taskId));
    gw.send(bodyText(f));
  }
  const probe = `probe-${n}`;
  gw.send(JSON.stringify({ type: "probe", taskId: probe }));
  await waitUntil(() => answered.has(probe), `the agent to answer probe ${probe}`);
  await waitUntil(() => tasks.every((id) => answered.has(id)), `answers to tasks ${tasks.join(",")}`);
  await Promise.all(receiptChecks.splice(0));
  if (problems.length > 0) throw new Error(problems.splice(0).join("\n"));
  if (agent.links.get(SUBNET)?.connects !== connects || !agent.links.get(SUBNET)?.ready)
    throw new Error("the agent lost its link to the gateway");
}

async function waitUntil(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(1);
  }
}

/** A valid task must still run and come back with its receipt. */
async function servesAValidTask(): Promise<void> {
  await deliver([tensorTask()]);
  expect(answered.get(`fz-${ids}`)).toBe("result");
}

describe("fuzzed gateway frames: typed errors or silence, receipts only for well-formed tasks", () => {
  for (const [kind, make] of Object.entries(base)) {
    test(`${kind} frames`, async () => {
      await fc.assert(
        fc.asyncProperty(fuzzBodies(make()), async (f) => deliver([f])),
        params,
      );
      await servesAValidTask();
    }, 600_000);
  }

  test("task frames with hostile tensors", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.dictionary(fc.constantFrom("x", "y", "x/../../etc", "__proto__"), hostileTensor, { minKeys: 1, maxKeys: 3 }),
        async (inputs) => deliver([tensorTask({ inputs })]),
      ),
      params,
    );
    await servesAValidTask();
  }, 600_000);

  test("OCR task frames whose image is not an image", async () => {
    await fc.assert(
      fc.asyncProperty(fuzzBodies(ocrTask()), async (f) => deliver([f])),
      params,
    );
    await servesAValidTask();
  }, 600_000);

  test("tasks frames (several tasks in one message)", async () => {
    const many = { type: "tasks", tasks: [tensorTask(), tensorTask({ taskId: `${PLACEHOLDER}-b`, receipts: "batch" })] };
    await fc.assert(
      fc.asyncProperty(fuzzBodies(many), async (f) => deliver([f])),
      params,
    );
    await servesAValidTask();
  }, 600_000);

  test("regressions found by this suite answer typed errors, or run and sign correctly", async () => {
    const { model } = tensorTask() as { model: { outputs: unknown[] } };
    const cases: [Record<string, unknown>, string][] = [
      // A price past uint256: the model ran, then signing failed with INTERNAL.
      [tensorTask({ price: (2n ** 256n).toString() }), "error FRAME_INVALID"],
      // An output named twice: the inference worker failed on a duplicate transfer.
      [tensorTask({ model: { ...model, outputs: [...model.outputs, ...model.outputs] } }), "error FRAME_INVALID"],
      // A deadline past what a timer holds: the deadline timer fired every millisecond.
      [tensorTask({ deadline: 1e308 }), "result"],
      [tensorTask({ receipts: "batch", deadline: Date.now() + 2 ** 40 }), "result"],
    ];
    for (const [frame, answer] of cases) {
      await deliver([frame]);
      expect(answered.get(`fz-${ids}`)).toBe(answer);
    }
  }, 60_000);

  test("interleaved, truncated, binary and hostile frames around valid tasks", async () => {
    const frame = fc.oneof(
      ...Object.values(base).map((make) => fuzzBodies(make())),
      fc.constant(tensorTask()),
      truncatedJson(tensorTask()),
      hostileValue,
      fc.uint8Array({ maxLength: 300 }),
      hexDigits(64).map((h) => ({ type: "acks", receiptsRoot: `0x${h}` })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(frame, { minLength: 1, maxLength: 6 }), async (frames) => deliver(frames)),
      params,
    );
    await servesAValidTask();
  }, 600_000);
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bytesToBase64,
  GatewayToAgentFrame,
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  merkleBatch,
  type NcnDomain,
  ncnDomain,
  type ReceiptJson,
  receiptDigest,
  receiptMessage,
  type TaskFrame,
  TaskFrame as TaskFrameSchema,
  type TaskResult,
  type TensorJson,
  tensorFromJson,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import { bodyText } from "@ncn/protocol/testing/fuzz";
import { ppocrV4Task } from "@ncn/runtime";
import { tinyModelBytes, tinyModelDescriptor, tinyModelReference } from "@ncn/runtime/testing";
import fc from "fast-check";
import * as v from "valibot";
import { recoverTypedDataAddress } from "viem";
import { Agent } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { type ReceivedFrame, TestGateway } from "./test-gateway.ts";

const SUBNET = "fz";
/** Task ids in base frames; each delivery gives them ids of their own. */
const PLACEHOLDER = "fz-task";

/** Tensors: wrong dtypes, dims that do not match the data or the model, huge shapes. */
export const hostileTensor = fc
  .tuple(
    fc.constantFrom(
      "float32",
      "float64",
      "int8",
      "int32",
      "int64",
      "uint8",
      "bool",
      "float16",
      "string",
      "cfloat",
    ),
    fc.oneof(
      fc.array(fc.integer({ min: 0, max: 8 }), { maxLength: 9 }),
      fc.constantFrom(
        [2, 4],
        [0, 4],
        [1, 4, 1],
        [4],
        [],
        [2 ** 31, 2 ** 31],
        [1e9, 4],
        [2 ** 26, 4],
        [-1, 4],
        [1.5, 4],
      ),
    ),
    fc.oneof(
      { arbitrary: fc.integer({ min: 0, max: 64 }), weight: 8 },
      { arbitrary: fc.constantFrom(32, 64, 256 * 1024), weight: 1 },
    ),
  )
  .map(([dtype, dims, bytes]) => ({ dtype, dims, data: Buffer.alloc(bytes, 0x3f).toString("base64") }));

/**
 * A real agent (onnxruntime, model store, outbox) linked to a loopback gateway, and the
 * checks a frame fuzz suite runs on everything it answers: error frames are typed and never
 * INTERNAL, every signed receipt binds a well-formed task and the model's real output for
 * it, every well-formed task is answered, and the link is never dropped.
 */
export class FrameFuzzHarness {
  readonly gateway: TestGateway;
  readonly agent: Agent;
  readonly #dir: string;
  readonly #modelSource: string;
  /** Every task frame sent, by task id. */
  readonly #sent = new Map<string, unknown[]>();
  /** The agent's answer per task id: "result" or "error <code>". */
  readonly #answers = new Map<string, string>();
  readonly #problems: string[] = [];
  readonly #checks: Promise<void>[] = [];
  readonly #wake: (() => void)[] = [];
  #deliveries = 0;
  #ids = 0;

  private constructor(dir: string, gateway: TestGateway, agent: Agent) {
    this.#dir = dir;
    this.#modelSource = `file:${join(dir, "tiny.onnx")}`;
    this.gateway = gateway;
    this.agent = agent;
    gateway.onFrame((r) => this.#onAgentFrame(r));
  }

  static async start(): Promise<FrameFuzzHarness> {
    const dir = mkdtempSync(join(tmpdir(), "ncn-agent-fuzz-"));
    writeFileSync(join(dir, "tiny.onnx"), tinyModelBytes());
    const gateway = new TestGateway({ heartbeatMs: 60_000 });
    const config = loadConfig(
      {
        gateway: gateway.url,
        subnets: SUBNET,
        dataDir: join(dir, "data"),
        maxConcurrency: "2",
        logLevel: "error",
        modelDirs: dir,
      },
      {},
    );
    const agent = await Agent.create(config, { backoff: { baseMs: 20, maxMs: 200 } });
    agent.start();
    await agent.waitReady(10_000);
    return new FrameFuzzHarness(dir, gateway, agent);
  }

  async stop(): Promise<void> {
    await this.agent.stop(2000);
    await this.gateway.stop();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  get #domain(): NcnDomain {
    return ncnDomain(this.gateway.chainId, this.gateway.verifyingContract);
  }

  /** A valid tensor task for the tiny model (its task id is replaced on delivery). */
  tensorTask(over: Record<string, unknown> = {}): Record<string, unknown> {
    const x = new Float32Array([1, -2, 3, 0.5, 0, 1, 1, 1]);
    return {
      type: "task",
      taskId: PLACEHOLDER,
      requestId: "fz-req",
      subnet: SUBNET,
      model: tinyModelDescriptor({ sources: [this.#modelSource] }),
      price: "1000",
      deadline: Date.now() + 3_600_000,
      kind: "tensor",
      inputs: { x: tensorToJson({ dtype: "float32", dims: [2, 4], data: x }) },
      ...over,
    };
  }

  /** An OCR task whose image is not an image: the pipeline must refuse it before signing. */
  ocrTask(): Record<string, unknown> {
    const { model, pipeline } = ppocrV4Task();
    const { inputs: _, ...task } = this.tensorTask();
    return {
      ...task,
      kind: "ocr",
      model,
      pipeline,
      image: bytesToBase64(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3, 4, 5, 6, 7, 8])),
    };
  }

  /** A well-formed frame of every other kind the gateway sends. */
  linkFrames(): Record<string, object> {
    return {
      cancel: { type: "cancel", taskId: PLACEHOLDER, reason: "client went away" },
      ack: { type: "ack", taskId: PLACEHOLDER },
      acks: { type: "acks", receiptsRoot: `0x${"ab".repeat(32)}` },
      error: { type: "error", taskId: PLACEHOLDER, code: "CANCELLED", message: "gone" },
      challenge: {
        type: "challenge",
        v: 1,
        nonce: `0x${"11".repeat(32)}`,
        gateway: this.gateway.host,
        chainId: this.gateway.chainId,
        verifyingContract: this.gateway.verifyingContract,
        serverTime: Date.now(),
      },
      welcome: { type: "welcome", agent: this.agent.address.toLowerCase(), heartbeatMs: 1000 },
    };
  }

  /** The agent's answer to the last task id given out ("result", "error <code>" or undefined). */
  lastAnswer(): string | undefined {
    return this.#answers.get(`fz-${this.#ids}`);
  }

  /**
   * Sends `frames` (JSON values, raw text as `{raw}`, or bytes), then a probe the agent must
   * answer with a typed error; waits for that answer and for an answer to every well-formed
   * task sent, then fails on anything that went wrong meanwhile.
   */
  async deliver(frames: readonly unknown[]): Promise<void> {
    const n = ++this.#deliveries;
    const tasks: string[] = [];
    const link = this.agent.links.get(SUBNET);
    const connects = link?.connects;
    for (const raw of frames) {
      const f = this.#ownIds(raw);
      if (f instanceof Uint8Array) {
        this.gateway.send(f);
        continue;
      }
      const frame = f as { type?: unknown; tasks?: unknown } | null;
      const list = frame?.type === "tasks" && Array.isArray(frame.tasks) ? frame.tasks : [frame];
      for (const t of list as ({ taskId?: unknown } | null)[]) {
        if (t && typeof t === "object" && typeof t.taskId === "string")
          this.#sent.set(t.taskId, [...(this.#sent.get(t.taskId) ?? []), t]);
      }
      // A well-formed task (or tasks) frame must be answered: a result or a typed error.
      const parsed = v.safeParse(GatewayToAgentFrame, f);
      if (parsed.success && parsed.output.type === "task") tasks.push(parsed.output.taskId);
      if (parsed.success && parsed.output.type === "tasks")
        tasks.push(...parsed.output.tasks.map((t) => t.taskId));
      this.gateway.send(bodyText(f));
    }
    const probe = `probe-${n}`;
    this.gateway.send(JSON.stringify({ type: "probe", taskId: probe }));
    await this.#waitUntil(() => this.#answers.has(probe), `the agent to answer probe ${probe}`);
    await this.#waitUntil(
      () => tasks.every((id) => this.#answers.has(id)),
      `answers to tasks ${tasks.join(",")}`,
    );
    await Promise.all(this.#checks.splice(0));
    if (this.#problems.length > 0) throw new Error(this.#problems.splice(0).join("\n"));
    if (link?.connects !== connects || !link?.ready)
      throw new Error("the agent lost its link to the gateway");
  }

  /** Fails unless a valid task still runs and comes back with a correct receipt. */
  async servesAValidTask(): Promise<void> {
    await this.deliver([this.tensorTask()]);
    if (this.lastAnswer() !== "result") throw new Error(`a valid task got ${this.lastAnswer()}`);
  }

  /** Gives every placeholder task id in `frame` (and in a tasks frame's tasks) an id of its own. */
  #ownIds(frame: unknown): unknown {
    if (typeof frame !== "object" || frame === null || Array.isArray(frame) || frame instanceof Uint8Array)
      return frame;
    const o = { ...(frame as Record<string, unknown>) };
    if (typeof o.taskId === "string" && o.taskId.startsWith(PLACEHOLDER)) o.taskId = `fz-${++this.#ids}`;
    if (Array.isArray(o.tasks)) o.tasks = o.tasks.map((t) => this.#ownIds(t));
    return o;
  }

  async #waitUntil(cond: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    const until = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        this.#wake.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** Checks every frame the agent sends as it arrives. */
  #onAgentFrame(r: ReceivedFrame): void {
    for (const w of this.#wake.splice(0)) w();
    const f = r.frame;
    const fail = (e: unknown) => {
      this.#problems.push(String(e));
    };
    if (f.type === "unparsed")
      this.#problems.push(`agent sent a frame that breaks the protocol: ${f.text.slice(0, 200)}`);
    else if (f.type === "error") {
      if (f.code === "INTERNAL") this.#problems.push(`agent answered INTERNAL: ${f.message}`);
      if (f.taskId) this.#answers.set(f.taskId, `error ${f.code}`);
    } else if (f.type === "result") {
      this.#answers.set(f.taskId, "result");
      this.#checks.push(
        this.#checkReceipt(f.taskId, f.result, f.receipt.receipt, f.receipt.signature).catch(fail),
      );
    } else if (f.type === "results") {
      for (const item of f.items) this.#answers.set(item.taskId, "result");
      this.#checks.push(
        (async () => {
          const tree = merkleBatch(f.items.map((i) => receiptDigest(this.#domain, i.receipt)));
          if (tree.root !== f.receiptsRoot) throw new Error("results frame root does not cover its receipts");
          const signer = await recoverTypedDataAddress({
            ...typedData(this.#domain, "ReceiptBatch", {
              agent: this.agent.address.toLowerCase() as `0x${string}`,
              receiptsRoot: f.receiptsRoot,
              count: f.items.length,
            }),
            signature: f.signature,
          });
          if (signer !== this.agent.address) throw new Error("results frame not signed by the agent");
          for (const item of f.items) await this.#checkReceipt(item.taskId, item.result, item.receipt);
        })().catch(fail),
      );
    }
  }

  /** A signed receipt must answer a well-formed task sent under its id (see `#mismatch`). */
  async #checkReceipt(taskId: string, result: unknown, receipt: ReceiptJson, signature?: `0x${string}`) {
    const sent = this.#sent.get(taskId) ?? [];
    const wellFormed = sent.flatMap((t) => {
      const parsed = v.safeParse(TaskFrameSchema, t);
      return parsed.success ? [parsed.output] : [];
    });
    if (wellFormed.length === 0)
      throw new Error(
        `receipt signed for a malformed task ${taskId}: ${JSON.stringify(sent[0])?.slice(0, 300)}`,
      );
    const mismatches = wellFormed.map((task) => this.#mismatch(task, result, receipt));
    if (!mismatches.includes(undefined)) throw new Error(`task ${taskId}: ${mismatches[0]}`);
    if (signature) {
      const signer = await recoverTypedDataAddress({
        ...typedData(this.#domain, "InferenceReceipt", receiptMessage(receipt)),
        signature,
      });
      if (signer !== this.agent.address) throw new Error(`receipt of ${taskId} not signed by the agent`);
    }
  }

  /**
   * What in `receipt` or `result` does not answer `task` (undefined when all does): the
   * receipt binds exactly its ids, price, model, input and result, and the result is the
   * tiny model's real output for that input.
   */
  #mismatch(task: TaskFrame, result: unknown, receipt: ReceiptJson): string | undefined {
    if (task.kind !== "tensor") return "receipt signed for an OCR task whose image is not an image";
    const want = {
      requestId: idToBytes32(task.requestId),
      subnetId: idToBytes32(task.subnet),
      modelId: idToBytes32(task.model.id),
      modelHash: task.model.sha256,
      inputHash: hashTaskInput({ kind: "tensor", model: task.model.id, inputs: task.inputs }),
      outputHash: hashTaskResult(result as TaskResult),
      agent: this.agent.address.toLowerCase(),
      price: task.price,
    };
    for (const [k, value] of Object.entries(want)) {
      if ((receipt as Record<string, unknown>)[k] !== value) return `receipt ${k} does not bind the task`;
    }
    const x = task.inputs.x;
    if (x?.dtype !== "float32") return "ran without a float32 input x";
    const y = (result as { outputs?: Record<string, TensorJson> }).outputs?.y;
    if (!y) return "no output y";
    const expected = tinyModelReference(tensorFromJson(x).data as Float32Array);
    const got = tensorFromJson(y).data as Float32Array;
    if (got.length !== expected.length || got.some((g, i) => Math.abs(g - (expected[i] ?? 0)) > 1e-4))
      return "the signed result is not the model's output";
    return undefined;
  }
}

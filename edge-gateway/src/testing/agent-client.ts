import {
  authMessage,
  type Capabilities,
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  ncnDomain,
  ReceiptJson,
  receiptMessage,
  TaskInput,
  type TaskResult,
  type TensorMapJson,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import type { PrivateKeyAccount } from "viem/accounts";

/**
 * A protocol-speaking WebSocket peer for gateway hub tests: it answers the challenge
 * (optionally with a wrong key) and records every frame it receives. The real agent
 * is exercised by the end-to-end tests; this peer lets hub tests send malformed frames.
 */
export class TestAgentPeer {
  readonly frames: Record<string, unknown>[] = [];
  /** Answers task frames when set: the returned frame is sent back. */
  onTask: ((task: Record<string, unknown>) => Promise<unknown>) | undefined;
  #challenge: Record<string, unknown> | undefined;
  ws!: WebSocket;
  closed: { code: number; reason: string } | undefined;
  #waiters: (() => void)[] = [];

  constructor(
    readonly account: PrivateKeyAccount,
    readonly opts: {
      signWith?: PrivateKeyAccount;
      subnets?: string[];
      capabilities?: Partial<Capabilities>;
    } = {},
  ) {}

  async connect(gatewayUrl: string, subnet: string): Promise<void> {
    const url = `${gatewayUrl.replace(/^http/, "ws")}/v1/agents/connect?subnet=${subnet}&agent=${this.account.address}`;
    this.ws = new WebSocket(url);
    this.ws.onmessage = async (e) => {
      const frame = JSON.parse(String(e.data)) as Record<string, unknown>;
      this.frames.push(frame);
      if (frame.type === "challenge") {
        this.#challenge = frame;
        await this.#hello(frame, subnet);
      }
      if (frame.type === "task" && this.onTask) this.send(await this.onTask(frame));
      for (const w of this.#waiters.splice(0)) w();
    };
    this.ws.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason };
      for (const w of this.#waiters.splice(0)) w();
    };
    await new Promise<void>((resolve, reject) => {
      this.ws.onopen = () => resolve();
      this.ws.onerror = () => reject(new Error("websocket failed"));
    });
  }

  async #hello(challenge: Record<string, unknown>, subnet: string): Promise<void> {
    const signer = this.opts.signWith ?? this.account;
    const signature = await signer.signMessage({
      message: authMessage(String(challenge.nonce), String(challenge.gateway)),
    });
    this.send({
      type: "hello",
      v: 1,
      agent: this.account.address.toLowerCase(),
      nonce: challenge.nonce,
      signature,
      subnets: this.opts.subnets ?? [subnet],
      capabilities: {
        cores: 2,
        memoryMb: 4096,
        gpu: null,
        runtimes: ["onnx"],
        cachedModels: [],
        maxConcurrency: 2,
        version: "test",
        ...this.opts.capabilities,
      },
    });
  }

  /** A result frame with correct hashes but a receipt signed by `signer` (not this agent). */
  async forgedResult(
    task: Record<string, unknown>,
    outputs: TensorMapJson,
    signer: PrivateKeyAccount,
  ): Promise<Record<string, unknown>> {
    return this.resultFor(task, { kind: "tensor", outputs }, signer);
  }

  /**
   * A result frame for a tensor or generate task: `result` with a receipt whose hashes match
   * the task, signed by `signer` (this agent unless told otherwise), priced `price` (the task's
   * price unless told otherwise).
   */
  async resultFor(
    task: Record<string, unknown>,
    result: TaskResult,
    signer: PrivateKeyAccount = this.account,
    price: string = String(task.price),
  ): Promise<Record<string, unknown>> {
    const challenge = this.#challenge ?? {};
    const model = task.model as { id: string; sha256: `0x${string}` };
    const input = v.parse(
      TaskInput,
      task.kind === "generate"
        ? { kind: "generate", model: model.id, prompt: task.prompt, sampling: task.sampling }
        : { kind: "tensor", model: model.id, inputs: task.inputs },
    );
    const receipt = {
      requestId: idToBytes32(String(task.requestId)),
      subnetId: idToBytes32(String(task.subnet)),
      modelId: idToBytes32(model.id),
      modelHash: model.sha256,
      inputHash: hashTaskInput(input),
      outputHash: hashTaskResult(result),
      agent: this.account.address.toLowerCase(),
      price,
      startedAt: Date.now(),
      finishedAt: Date.now(),
    };
    const domain = ncnDomain(Number(challenge.chainId), challenge.verifyingContract as `0x${string}`);
    const signature = await signer.signTypedData(
      typedData(domain, "InferenceReceipt", receiptMessage(v.parse(ReceiptJson, receipt))),
    );
    return { type: "result", taskId: task.taskId, result, receipt: { receipt, signature }, computeMs: 1 };
  }

  send(frame: unknown): void {
    this.ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** Waits until a received frame matches, or the socket closes. */
  async waitFor(
    pred: (f: Record<string, unknown>) => boolean,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.frames.find(pred);
      if (hit) return hit;
      if (this.closed) throw new Error(`socket closed (${this.closed.code} ${this.closed.reason})`);
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(`no matching frame within ${timeoutMs} ms: ${JSON.stringify(this.frames)}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.#waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  async waitClosed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (!this.closed) throw new Error("socket did not close");
    return this.closed;
  }

  close(): void {
    this.ws.close();
  }
}

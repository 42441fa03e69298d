/**
 * Inference thread: holds onnxruntime sessions and runs them, so that inference (which
 * onnxruntime-node performs synchronously) never blocks the agent's event loop.
 * Messages are `WorkerRequest`s; every one is answered with a `WorkerReply`.
 */
import { hashTensors, useFastKeccak } from "@ncn/protocol";
import type { InferenceSession, Tensor as OrtTensorT } from "onnxruntime-node";
import { type DeclaredOutput, declaredOutputBytes } from "./output-limits.ts";
import { isGuarded } from "./session-guard.ts";
import type { WireTensor, WorkerReply, WorkerRequest } from "./worker-protocol.ts";

declare const self: Worker;

// The handler is installed before anything is awaited, so no early message is missed.
const ortReady = import("onnxruntime-node");
// Inputs and outputs are hashed here for every task.
void useFastKeccak();
const sessions = new Map<string, InferenceSession>();

function reply(r: WorkerReply, transfer: Transferable[] = []): void {
  self.postMessage(r, transfer);
}

/** A model past one of the limits: answered as such, not as a failure of the model. */
class LimitError extends Error {}

/** Told to retire: what is still queued is refused, not run. */
let retiring = false;

async function handle(req: Exclude<WorkerRequest, { op: "retire" }>): Promise<void> {
  if (retiring) {
    reply({ id: req.id, ok: false, error: "inference thread retired" });
    return;
  }
  try {
    const ort = await ortReady;
    if (req.op === "load") {
      // Every session reads external data only from the runtime's private folder.
      if (!isGuarded(req.options)) throw new Error("session options do not pin the external data folder");
      if (!sessions.has(req.key)) {
        const session = await ort.InferenceSession.create(
          req.bytes,
          req.options as InferenceSession.SessionOptions,
        );
        const declared = declaredOutputBytes(session.outputMetadata as readonly DeclaredOutput[]);
        if (declared > req.maxOutputBytes) {
          await session.release();
          throw new LimitError(
            `its outputs are declared ${declared} bytes, over the ${req.maxOutputBytes} limit`,
          );
        }
        sessions.set(req.key, session);
      }
      reply({ id: req.id, ok: true });
    } else if (req.op === "release") {
      const s = sessions.get(req.key);
      sessions.delete(req.key);
      await s?.release();
      reply({ id: req.id, ok: true });
    } else {
      const s = sessions.get(req.key);
      if (!s) throw new Error("session not loaded");
      const feeds: Record<string, OrtTensorT> = {};
      for (const [name, t] of Object.entries(req.feeds))
        feeds[name] = new ort.Tensor(t.dtype, t.data, t.dims);
      // Hashed before the run: the feeds are the caller's tensors, untouched by onnxruntime.
      const inputHash = req.hash ? hashTensors(req.feeds) : undefined;
      self.postMessage({ id: req.id, started: true });
      const t0 = performance.now();
      const out = await s.run(feeds, req.fetches);
      const ms = performance.now() - t0;
      const outputs: Record<string, WireTensor> = {};
      const transfer: Transferable[] = [];
      let outputBytes = 0;
      for (const name of req.fetches) {
        const t = out[name] as OrtTensorT | undefined;
        if (t && ArrayBuffer.isView(t.data)) outputBytes += t.data.byteLength;
      }
      if (outputBytes > req.maxOutputBytes) {
        for (const t of Object.values(out)) (t as OrtTensorT).dispose?.();
        throw new LimitError(`its outputs are ${outputBytes} bytes, over the ${req.maxOutputBytes} limit`);
      }
      for (const name of req.fetches) {
        const t = out[name] as OrtTensorT | undefined;
        if (!t) throw new Error(`output "${name}" missing`);
        if (typeof t.data === "string" || Array.isArray(t.data) || !ArrayBuffer.isView(t.data)) {
          throw new Error(`output "${name}" is not a numeric tensor (${t.type})`);
        }
        outputs[name] = {
          dtype: t.type as WireTensor["dtype"],
          dims: [...t.dims],
          data: t.data as WireTensor["data"],
        };
        transfer.push(t.data.buffer as ArrayBuffer);
      }
      const outputHash = req.hash ? hashTensors(outputs) : undefined;
      reply(
        { id: req.id, ok: true, outputs, ms, ...(inputHash && outputHash ? { inputHash, outputHash } : {}) },
        transfer,
      );
    }
  } catch (e) {
    const error = e instanceof Error ? e.message : String(e);
    reply({ id: req.id, ok: false, error, ...(e instanceof LimitError ? { limit: true as const } : {}) });
  }
}

/** Releases every session and ends the thread, after the work before it returned. */
async function retire(): Promise<void> {
  for (const s of sessions.values()) await s.release().catch(() => undefined);
  sessions.clear();
  process.exit(0);
}

// One request at a time, in arrival order.
let chain: Promise<void> = Promise.resolve();
self.onmessage = (e: MessageEvent<WorkerRequest>) => {
  const req = e.data;
  if (req.op === "retire") {
    retiring = true;
    chain = chain.then(retire);
    return;
  }
  chain = chain.then(() => handle(req));
};

import {
  AttestationSig,
  idToBytes32,
  ModelDescriptor,
  Payment,
  SignedReceipt,
  TaskInput,
  TaskResult,
} from "@ncn/protocol";
import * as v from "valibot";
import { newRequest } from "./step.ts";
import type { RequestConfig, RequestRecord, RequestTask } from "./types.ts";

/** Records and frames for the reducer's tests: every one parsed by its wire schema. */
export const T0 = 1_000_000;
export const CONFIG: RequestConfig = { maxAttempts: 3 };
export const AGENT_A = `0x${"aa".repeat(20)}`;
export const AGENT_B = `0x${"bb".repeat(20)}`;
const descriptor = v.parse(ModelDescriptor, {
  id: "tiny",
  sha256: `0x${"ab".repeat(32)}`,
  size: 219,
  runtime: "onnx",
  sources: ["npm:tiny/model.onnx"],
  inputs: [{ name: "x", dtype: "float32", dims: [1, 2] }],
  outputs: [{ name: "y", dtype: "float32", dims: [1, 2] }],
});
const input = v.parse(TaskInput, {
  kind: "tensor",
  model: "tiny",
  inputs: { x: { dtype: "float32", dims: [1, 2], data: "AACAPwAAAEA=" } },
});
export const RESULT = v.parse(TaskResult, {
  kind: "tensor",
  outputs: { y: { dtype: "float32", dims: [1, 2], data: "AACAPwAAAEA=" } },
});
export const SESSION_PAYMENT = v.parse(Payment, {
  mode: "session",
  sessionId: `0x${"11".repeat(32)}`,
  cumulativeAmount: "1000",
  signature: `0x${"22".repeat(65)}`,
});
export const ESCROW_PAYMENT = v.parse(Payment, { mode: "escrow" });

export function receiptOf(agent: string, signatureByte = "33"): SignedReceipt {
  return v.parse(SignedReceipt, {
    receipt: {
      requestId: idToBytes32("r1"),
      subnetId: idToBytes32("default"),
      modelId: idToBytes32("tiny"),
      modelHash: descriptor.sha256,
      inputHash: `0x${"01".repeat(32)}`,
      outputHash: `0x${"02".repeat(32)}`,
      agent,
      price: "1000",
      startedAt: 1,
      finishedAt: 2,
    },
    signature: `0x${signatureByte.repeat(65)}`,
  });
}

export function attestations(n: number, phase: 0 | 1): AttestationSig[] {
  return Array.from({ length: n }, (_, i) =>
    v.parse(AttestationSig, {
      validator: `0x${(i + 1).toString(16).padStart(40, "0")}`,
      phase,
      subject: `0x${"44".repeat(32)}`,
      outputHash: `0x${"02".repeat(32)}`,
      signature: `0x${"55".repeat(65)}`,
    }),
  );
}

/** A fresh record for request `r1`, 30 s to run, paid from a session unless told otherwise. */
export function record(payment: Payment = SESSION_PAYMENT): RequestRecord {
  return newRequest(
    {
      requestId: "r1",
      subnet: "default",
      input,
      payment,
      price: "1000",
      descriptor,
      pipeline: [],
      timeoutMs: 30_000,
    },
    T0,
  );
}

export function taskOf(agent: string, attempt: number, shard = 0): RequestTask {
  return { taskId: `r1:${attempt}`, shard, agent, deadline: T0 + 30_000 };
}

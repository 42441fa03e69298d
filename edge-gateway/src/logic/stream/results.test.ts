import { expect, test } from "bun:test";
import { BatchedResult, idToBytes32, ModelDescriptor } from "@ncn/protocol";
import * as v from "valibot";
import { batchedResultProblem, refusedForTheAgent } from "./results.ts";

const AGENT = `0x${"aa".repeat(20)}`;
const descriptor = v.parse(ModelDescriptor, {
  id: "tiny",
  sha256: `0x${"ab".repeat(32)}`,
  size: 219,
  runtime: "onnx",
  sources: ["npm:tiny/model.onnx"],
  inputs: [],
  outputs: [],
});
const item = (over: Record<string, unknown> = {}, kind = "tensor") =>
  v.parse(BatchedResult, {
    taskId: "s1:1",
    computeMs: 3,
    result:
      kind === "tensor"
        ? { kind: "tensor", outputs: { y: { dtype: "float32", dims: [1], data: "AACAPw==" } } }
        : { kind: "ocr", lines: [] },
    receipt: {
      requestId: idToBytes32("s1"),
      subnetId: idToBytes32("default"),
      modelId: idToBytes32("tiny"),
      modelHash: descriptor.sha256,
      inputHash: `0x${"01".repeat(32)}`,
      outputHash: `0x${"02".repeat(32)}`,
      agent: AGENT,
      price: "10",
      startedAt: 1,
      finishedAt: 2,
      ...over,
    },
  });

test("a batched result is checked against its request with protocol's receiptMismatch, and its kind", () => {
  expect(batchedResultProblem("default", descriptor, 10n, AGENT, item())).toBeUndefined();
  expect(batchedResultProblem("default", descriptor, 11n, AGENT, item())).toBe(
    "the receipt's price differs from the request's",
  );
  expect(batchedResultProblem("other", descriptor, 10n, AGENT, item())).toBe(
    "the receipt is for another subnet",
  );
  expect(batchedResultProblem("default", descriptor, 10n, `0x${"bb".repeat(20)}`, item())).toBe(
    "the receipt names another agent",
  );
  expect(batchedResultProblem("default", descriptor, 10n, AGENT, item({}, "ocr"))).toBe(
    "result kind does not match the task",
  );
});

test("payment and validator refusals end the request; the others send it to another agent", () => {
  for (const code of [
    "PAYMENT_REQUIRED",
    "INSUFFICIENT_FUNDS",
    "PAYMENT_EXPIRED",
    "VALIDATOR_UNAVAILABLE",
  ] as const)
    expect(refusedForTheAgent(code)).toBe(false);
  for (const code of ["VALIDATION_REFUSED", "SIGNATURE_INVALID", "DEADLINE_EXCEEDED"] as const)
    expect(refusedForTheAgent(code)).toBe(true);
});

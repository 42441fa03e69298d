import { expect, test } from "bun:test";
import { idToBytes32 } from "./eip712.ts";
import type { ReceiptJson } from "./receipt.ts";
import { receiptMismatch } from "./receipt-check.ts";

const receipt = {
  requestId: idToBytes32("r1"),
  subnetId: idToBytes32("default"),
  modelId: idToBytes32("tiny"),
  modelHash: `0x${"ab".repeat(32)}`,
  inputHash: `0x${"01".repeat(32)}`,
  outputHash: `0x${"02".repeat(32)}`,
  agent: `0x${"aa".repeat(20)}`,
  price: "1000",
  startedAt: 1,
  finishedAt: 2,
} as ReceiptJson;

test("a receipt that says what the request says passes; addresses compare case-insensitively", () => {
  expect(
    receiptMismatch(receipt, {
      agent: `0x${"AA".repeat(20)}`,
      requestId: idToBytes32("r1"),
      subnetId: idToBytes32("default"),
      modelId: idToBytes32("tiny"),
      modelHash: receipt.modelHash,
      inputHash: receipt.inputHash,
      outputHash: receipt.outputHash,
      price: "1000",
    }),
  ).toBeUndefined();
  expect(receiptMismatch(receipt, {})).toBeUndefined();
});

test("each contradicted field is named, first one first", () => {
  expect(receiptMismatch(receipt, { price: "25000" })?.reason).toBe("price_mismatch");
  expect(receiptMismatch(receipt, { requestId: idToBytes32("r2") })?.field).toBe("requestId");
  expect(receiptMismatch(receipt, { agent: `0x${"bb".repeat(20)}`, price: "1" })?.reason).toBe(
    "agent_mismatch",
  );
  expect(receiptMismatch(receipt, { outputHash: `0x${"03".repeat(32)}` })?.message).toContain("outputHash");
});

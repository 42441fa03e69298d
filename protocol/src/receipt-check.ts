import type { ReceiptJson } from "./receipt.ts";

/** What a receipt must say for a given request; fields left out are not compared. */
export interface ExpectedReceipt {
  agent?: string;
  requestId?: `0x${string}`;
  subnetId?: `0x${string}`;
  modelId?: `0x${string}`;
  modelHash?: string;
  inputHash?: string;
  outputHash?: string;
  price?: string;
}

/** A receipt field that differs from the request's: `reason` is stable snake_case. */
export interface ReceiptMismatch {
  field: keyof ExpectedReceipt;
  reason: string;
  message: string;
}

const CHECKS: readonly [keyof ExpectedReceipt, string, string][] = [
  ["agent", "agent_mismatch", "the receipt names another agent"],
  ["requestId", "request_mismatch", "the receipt is for another request"],
  ["subnetId", "subnet_mismatch", "the receipt is for another subnet"],
  ["modelId", "model_mismatch", "the receipt is for another model"],
  ["modelHash", "model_hash_mismatch", "the receipt names another model hash"],
  ["price", "price_mismatch", "the receipt's price differs from the request's"],
  ["inputHash", "input_hash_mismatch", "the input does not hash to the receipt's inputHash"],
  ["outputHash", "output_hash_mismatch", "the output does not hash to the receipt's outputHash"],
];

/**
 * The receipt-against-request check shared by the gateway (per request and per stream
 * item) and the validators: the first field of `expected` the receipt contradicts, or
 * undefined. Addresses and hashes compare case-insensitively. Callers pass only what
 * they can afford to compute (the stream path leaves the payload hashes to validators).
 *
 * @example receiptMismatch(receipt, { agent, requestId: idToBytes32(id), price: "1000" })
 */
export function receiptMismatch(
  receipt: ReceiptJson,
  expected: ExpectedReceipt,
): ReceiptMismatch | undefined {
  for (const [field, reason, message] of CHECKS) {
    const want = expected[field];
    if (want === undefined) continue;
    const got = receipt[field];
    if (got.toLowerCase() !== want.toLowerCase()) return { field, reason, message };
  }
  return undefined;
}

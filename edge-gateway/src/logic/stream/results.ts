import {
  type BatchedResult,
  type ErrorCode,
  idToBytes32,
  isPaymentErrorCode,
  type ModelDescriptor,
  receiptMismatch,
} from "@ncn/protocol";

/**
 * Did validators refuse a stream request's result for its agent's sake (so another agent may
 * serve it)? Not when the refusal is the request's (its payment) or nobody's (no validators):
 * no other agent would fare better.
 */
export function refusedForTheAgent(code: ErrorCode): boolean {
  return !isPaymentErrorCode(code) && code !== "VALIDATOR_UNAVAILABLE";
}

/**
 * What the gateway checks of a batched result before spending validators' time on it: the
 * receipt against the request (protocol's `receiptMismatch`), only in what costs no hashing
 * of the payload (the validators hash the input, the output and the ids, and refuse a receipt
 * that does not match; the request then goes to another agent). Undefined when it passes.
 */
export function batchedResultProblem(
  subnet: string,
  descriptor: ModelDescriptor,
  price: bigint,
  agent: string,
  item: BatchedResult,
): string | undefined {
  const mismatch = receiptMismatch(item.receipt, {
    agent,
    subnetId: idOf(subnet),
    modelId: idOf(descriptor.id),
    modelHash: descriptor.sha256,
    price: price.toString(),
  });
  if (mismatch) return mismatch.message;
  if (item.result.kind !== "tensor") return "result kind does not match the task";
  return undefined;
}

const ids = new Map<string, `0x${string}`>();

/** bytes32 of a subnet or model id, cached: the same few ids recur on every request. */
function idOf(id: string): `0x${string}` {
  let h = ids.get(id);
  if (h === undefined) {
    h = idToBytes32(id);
    if (ids.size > 10_000) ids.clear();
    ids.set(id, h);
  }
  return h;
}

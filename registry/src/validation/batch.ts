import {
  AttestationPhase,
  BaseError,
  type BatchCompletionRequest,
  type BatchCompletionResponse,
  type ReceiptJson,
  type ReputationEvent,
} from "@ncn/protocol";
import { ZERO_BYTES32 } from "../constants.ts";
import { type CompletionDeps, checkCompletion, receiptLeaf, spotCheck } from "./completion.ts";
import { refuse } from "./refuse.ts";
import { SortedMerkle } from "./sorted-merkle.ts";

export type Rejection = BatchCompletionResponse["rejected"][number];

/** An item's typed refusal as a batch answer lists it. */
export function rejection(index: number, e: BaseError): Rejection {
  return {
    index,
    code: e.code,
    message: e.shortMessage,
    ...(e.details === undefined ? {} : { details: e.details }),
  };
}

/** A receipt that passed every check of a batch, with its leaf (EIP-712 digest). */
export interface AcceptedReceipt {
  requestId: string;
  agent: `0x${string}`;
  receipt: ReceiptJson;
  digest: `0x${string}`;
}

/**
 * Records an accepted receipt: this validator will settle it, and it counts as a success
 * for its agent.
 */
export function acceptReceipt(deps: CompletionDeps, item: AcceptedReceipt, now: number): void {
  const { receipt } = item;
  deps.receipts.add(
    { digest: item.digest, requestId: receipt.requestId, agent: receipt.agent, price: BigInt(receipt.price) },
    now,
  );
  deps.onReputationEvent?.({
    id: `${item.requestId}:success`,
    agent: item.agent,
    kind: "success",
    requestId: item.requestId,
    latencyMs: Math.max(0, receipt.finishedAt - receipt.startedAt),
    at: now,
  } as ReputationEvent);
}

/** `acceptReceipt` for every item, in one transaction when the deps provide one. */
export function acceptReceipts(deps: CompletionDeps, items: readonly AcceptedReceipt[], now: number): void {
  const run = () => {
    for (const item of items) acceptReceipt(deps, item, now);
  };
  if (deps.transaction) deps.transaction(run);
  else run();
}

/**
 * Signs one completion attestation over the Merkle root of the accepted leaves and keeps it;
 * refuses the whole batch when nothing was accepted.
 */
export async function signBatch(
  deps: CompletionDeps,
  leaves: `0x${string}`[],
  accepted: number[],
  rejected: Rejection[],
  now: number,
): Promise<BatchCompletionResponse> {
  if (leaves.length === 0) {
    throw refuse("VALIDATION_REFUSED", "batch_empty", "no item of the batch passed validation", {
      field: "items",
      rejected,
    });
  }
  const root = new SortedMerkle().root(leaves);
  const attestation = await deps.signer.attest(deps.domain, {
    requestId: root,
    phase: AttestationPhase.Completion,
    subject: root,
    outputHash: ZERO_BYTES32,
  });
  deps.attestations.save(root, attestation, now);
  return {
    receiptsRoot: root as BatchCompletionResponse["receiptsRoot"],
    leaves: leaves as BatchCompletionResponse["leaves"],
    accepted,
    rejected,
    attestation,
  };
}

/**
 * Validates many completions at once and signs one Merkle root over the EIP-712 digests of
 * the accepted receipts (OpenZeppelin sorted-pair tree) instead of one attestation each:
 * one signature for the whole batch. Rejected items are listed with their typed reason.
 */
export async function validateBatch(
  req: BatchCompletionRequest,
  deps: CompletionDeps,
): Promise<BatchCompletionResponse> {
  const accepted: number[] = [];
  const rejected: Rejection[] = [];
  const leaves: `0x${string}`[] = [];
  const now = deps.now?.() ?? Date.now();
  for (const [index, item] of req.items.entries()) {
    try {
      const model = await checkCompletion(item, deps);
      await spotCheck(item, model, deps);
      const digest = receiptLeaf(deps.domain, item);
      accepted.push(index);
      leaves.push(digest);
      acceptReceipt(
        deps,
        { requestId: item.requestId, agent: item.agent, receipt: item.receipt.receipt, digest },
        now,
      );
    } catch (e) {
      if (!(e instanceof BaseError)) throw e;
      rejected.push(rejection(index, e));
    }
  }
  return signBatch(deps, leaves, accepted, rejected, now);
}

import {
  AttestationPhase,
  BaseError,
  type BatchCompletionRequest,
  type BatchCompletionResponse,
  merkleBatch,
  type ReputationEvent,
} from "@ncn/protocol";
import { ZERO_BYTES32 } from "../constants.ts";
import { type CompletionDeps, checkCompletion, receiptLeaf, spotCheck } from "./completion.ts";
import { refuse } from "./refuse.ts";

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
  const rejected: BatchCompletionResponse["rejected"] = [];
  const leaves: `0x${string}`[] = [];
  const now = deps.now?.() ?? Date.now();
  for (const [index, item] of req.items.entries()) {
    try {
      const model = await checkCompletion(item, deps);
      await spotCheck(item, model, deps);
      const { receipt } = item.receipt;
      const digest = receiptLeaf(deps.domain, item);
      accepted.push(index);
      leaves.push(digest);
      deps.receipts.add(
        { digest, requestId: receipt.requestId, agent: receipt.agent, price: BigInt(receipt.price) },
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
    } catch (e) {
      if (!(e instanceof BaseError)) throw e;
      rejected.push({
        index,
        code: e.code,
        message: e.shortMessage,
        ...(e.details === undefined ? {} : { details: e.details }),
      });
    }
  }
  if (leaves.length === 0) {
    throw refuse("VALIDATION_REFUSED", "batch_empty", "no item of the batch passed validation", {
      field: "items",
      rejected,
    });
  }
  const root = merkleBatch(leaves).root.toLowerCase() as `0x${string}`;
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

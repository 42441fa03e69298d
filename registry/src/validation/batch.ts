import {
  AttestationPhase,
  type AttestationSig,
  BaseError,
  type BatchCompletionRequest,
  type BatchCompletionResponse,
  idToBytes32,
  type ReceiptJson,
  type ReputationEvent,
} from "@ncn/protocol";
import { ZERO_BYTES32 } from "../constants.ts";
import type { AttestedCompletion, CompletionStore } from "../store/completion-store.ts";
import { type CompletionDeps, checkCompletion, checkPromptTokens, receiptLeaf } from "./completion.ts";
import { type CompletionHold, holdCompletion } from "./one-completion.ts";
import { checkPreattested } from "./preattested.ts";
import { refuse } from "./refuse.ts";
import { SortedMerkle } from "./sorted-merkle.ts";
import { spotCheck } from "./spot-check.ts";

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
  /** The session it is charged to; null when an escrow pays it. */
  sessionId: `0x${string}` | null;
}

/**
 * Records a signed batch (its attestation, and its accepted receipts) in one transaction when the deps provide
 * one: each is the one completion of its request id (under the batch's attestation), this
 * validator will settle it against its session, and it counts as a success for its agent.
 */
export function acceptReceipts(
  deps: CompletionDeps,
  items: readonly AcceptedReceipt[],
  signed: { receiptsRoot: `0x${string}`; attestation: AttestationSig },
  now: number,
): void {
  const run = () => {
    deps.attestations.save(signed.receiptsRoot, signed.attestation, now);
    deps.receipts.addBatchAttestation(signed.receiptsRoot, signed.attestation);
    const successes: ReputationEvent[] = [];
    for (const item of items) {
      const { receipt } = item;
      const stored = deps.receipts.add(
        {
          digest: item.digest,
          requestId: receipt.requestId,
          agent: receipt.agent,
          price: BigInt(receipt.price),
          sessionId: item.sessionId,
        },
        { receiptsRoot: signed.receiptsRoot },
        now,
      );
      const event = {
        id: `${item.requestId}:success`,
        agent: item.agent,
        kind: "success",
        requestId: item.requestId,
        latencyMs: Math.max(0, receipt.finishedAt - receipt.startedAt),
        at: now,
      } as ReputationEvent;
      if (!deps.onLocalSuccesses) deps.onReputationEvent?.(event);
      else if (stored) successes.push(event);
    }
    if (successes.length > 0) deps.onLocalSuccesses?.(successes);
  };
  if (deps.transaction) deps.transaction(run);
  else run();
}

/**
 * Signs one completion attestation over the Merkle root of the accepted leaves (kept by
 * `acceptReceipts`, in the transaction that stores the receipts); refuses the whole batch when nothing was accepted.
 */
export async function signBatch(
  deps: CompletionDeps,
  leaves: `0x${string}`[],
  accepted: number[],
  rejected: Rejection[],
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
  return {
    receiptsRoot: root as BatchCompletionResponse["receiptsRoot"],
    leaves: leaves as BatchCompletionResponse["leaves"],
    accepted,
    rejected,
    attestation,
  };
}

/** Holds taken by a batch's items, given back together once the batch is stored (or refused). */
export class BatchHolds {
  private readonly store: CompletionStore;
  /** What was attested before for the batch's request ids, read in one query. */
  private readonly known: ReadonlyMap<string, AttestedCompletion>;
  private readonly releases: (() => void)[] = [];
  private readonly ids = new Set<string>();

  constructor(store: CompletionStore, requestIds: readonly string[]) {
    this.store = store;
    this.known = store.getMany(requestIds);
  }

  /**
   * Holds the item's request id for its receipt: throws when the id appears earlier in the
   * batch or was attested (or is being validated) with another receipt; returns the first
   * attestation when this very receipt was attested before.
   */
  take(requestId: `0x${string}`, digest: `0x${string}`, field: string): CompletionHold {
    if (this.ids.has(requestId)) {
      throw refuse("CONFLICT", "duplicate_request", "this request id appears earlier in the batch", {
        field,
      });
    }
    this.ids.add(requestId);
    const hold = holdCompletion(this.store, requestId, digest, field, { first: this.known.get(requestId) });
    if ("release" in hold) this.releases.push(hold.release);
    return hold;
  }

  releaseAll(): void {
    for (const release of this.releases.splice(0)) release();
  }
}

/**
 * Validates many completions at once and signs one Merkle root over the EIP-712 digests of
 * the accepted receipts (OpenZeppelin sorted-pair tree) instead of one attestation each:
 * one signature for the whole batch. Each item passes what a single completion must (its
 * pre-attested terms, the agent's eligibility, the receipt, a sampled re-execution, one
 * completion per request id); rejected items are listed with their typed reason.
 */
export async function validateBatch(
  req: BatchCompletionRequest,
  deps: CompletionDeps,
  caller: `0x${string}`,
): Promise<BatchCompletionResponse> {
  const accepted: number[] = [];
  const rejected: Rejection[] = [];
  const leaves: `0x${string}`[] = [];
  const kept: AcceptedReceipt[] = [];
  const now = deps.now?.() ?? Date.now();
  const requestIds = req.items.map((item) => idToBytes32(item.requestId));
  const holds = new BatchHolds(deps.completions, requestIds);
  try {
    for (const [index, item] of req.items.entries()) {
      try {
        const digest = receiptLeaf(deps.domain, item);
        const requestId = requestIds[index] as `0x${string}`;
        const hold = holds.take(requestId, digest, `items[${index}].receipt`);
        let sessionId: `0x${string}` | null;
        if ("first" in hold) {
          sessionId = deps.receipts.get(digest)?.sessionId ?? null;
        } else {
          const facts = checkPreattested(
            deps,
            {
              gateway: caller,
              requestId: item.requestId,
              agent: item.agent,
              subnet: item.subnet,
              model: item.input.model,
              price: item.price,
              deadline: item.deadline,
            },
            now,
            `items[${index}].`,
          );
          const model = await checkCompletion(item, deps);
          await checkPromptTokens(item, model, deps);
          await spotCheck(item, model, deps);
          sessionId = facts.sessionId;
        }
        accepted.push(index);
        leaves.push(digest);
        kept.push({
          requestId: item.requestId,
          agent: item.agent,
          receipt: item.receipt.receipt,
          digest,
          sessionId,
        });
      } catch (e) {
        if (!(e instanceof BaseError)) throw e;
        rejected.push(rejection(index, e));
      }
    }
    const res = await signBatch(deps, leaves, accepted, rejected);
    acceptReceipts(deps, kept, res, now);
    return res;
  } finally {
    holds.releaseAll();
  }
}

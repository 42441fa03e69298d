import {
  AttestationPhase,
  BaseError,
  type BatchCompletionRequest,
  type BatchCompletionResponse,
  merkleBatch,
  payoutsHash,
  type ReputationEvent,
  type SettlementTerms,
  vouchersHash,
} from "@ncn/protocol";
import type { PaymentReader } from "../chain/payment-reader.ts";
import { ZERO_BYTES32 } from "../constants.ts";
import { checkVoucher } from "./check-payment.ts";
import { type CompletionDeps, checkCompletion, receiptLeaf, spotCheck } from "./completion.ts";
import { refuse } from "./refuse.ts";

export interface BatchDeps extends CompletionDeps {
  payments: PaymentReader;
}

/**
 * Checks the settlement terms of a batch against its receipts and the chain: every voucher
 * is the session client's, raises what was settled and stays within the deposit; the
 * sessions belong to the gateway; each node is paid the sum of its receipts' prices; and
 * the payouts spend exactly what the vouchers add. Returns the SettlementBatch total.
 */
async function checkSettlement(
  terms: SettlementTerms,
  receipts: { agent: string; price: string }[],
  payments: PaymentReader,
): Promise<bigint> {
  if (await payments.batchSettled(terms.batchId)) {
    throw refuse("CONFLICT", "batch_already_settled", "this batch id was already settled", {
      field: "settlement.batchId",
    });
  }
  let spent = 0n;
  const seen = new Set<string>();
  for (const [i, voucher] of terms.vouchers.entries()) {
    if (seen.has(voucher.sessionId)) {
      throw refuse("VALIDATION_REFUSED", "duplicate_session", "a session appears twice", {
        field: `settlement.vouchers[${i}].sessionId`,
      });
    }
    seen.add(voucher.sessionId);
    const session = await payments.session(voucher.sessionId);
    if (!session) {
      throw refuse("PAYMENT_REQUIRED", "session_unknown", "no session with this id", {
        field: `settlement.vouchers[${i}].sessionId`,
      });
    }
    if (session.gateway.toLowerCase() !== terms.gateway) {
      throw refuse("FORBIDDEN", "session_gateway_mismatch", "the session belongs to another gateway", {
        field: `settlement.vouchers[${i}].sessionId`,
      });
    }
    const cumulative = await checkVoucher(payments.domain, session, voucher);
    spent += cumulative - session.settled;
  }
  const owed = new Map<string, bigint>();
  for (const r of receipts) owed.set(r.agent, (owed.get(r.agent) ?? 0n) + BigInt(r.price));
  let paid = 0n;
  const paidTo = new Set<string>();
  for (const [i, p] of terms.payouts.entries()) {
    if (paidTo.has(p.node)) {
      throw refuse("VALIDATION_REFUSED", "duplicate_payout", "a node appears twice in the payouts", {
        field: `settlement.payouts[${i}].node`,
      });
    }
    paidTo.add(p.node);
    const amount = BigInt(p.amount);
    if (amount !== (owed.get(p.node) ?? 0n)) {
      throw refuse("VALIDATION_REFUSED", "payout_mismatch", "a payout differs from the node's receipts", {
        field: `settlement.payouts[${i}].amount`,
        owed: (owed.get(p.node) ?? 0n).toString(),
      });
    }
    paid += amount;
  }
  for (const node of owed.keys()) {
    if (!paidTo.has(node)) {
      throw refuse("VALIDATION_REFUSED", "payout_missing", `node ${node} has receipts but no payout`, {
        field: "settlement.payouts",
      });
    }
  }
  if (paid !== spent) {
    throw refuse(
      "VALIDATION_REFUSED",
      "payout_total_mismatch",
      "the payouts do not spend what the vouchers add",
      {
        field: "settlement",
        spent: spent.toString(),
        paid: paid.toString(),
      },
    );
  }
  return paid;
}

/**
 * Validates many completions at once and signs one Merkle root over the EIP-712 digests of
 * the accepted receipts (OpenZeppelin sorted-pair tree), instead of one attestation each.
 * With settlement terms, every item must pass and the validator also signs the
 * `SettlementBatch` that `InferencePayment.settleBatch` checks.
 */
export async function validateBatch(
  req: BatchCompletionRequest,
  deps: BatchDeps,
): Promise<BatchCompletionResponse> {
  const accepted: number[] = [];
  const rejected: BatchCompletionResponse["rejected"] = [];
  const leaves: `0x${string}`[] = [];
  for (const [index, item] of req.items.entries()) {
    try {
      const model = await checkCompletion(item, deps);
      await spotCheck(item, model, deps);
      accepted.push(index);
      leaves.push(receiptLeaf(deps.domain, item));
      const { receipt } = item.receipt;
      deps.onReputationEvent?.({
        id: `${item.requestId}:success`,
        agent: item.agent,
        kind: "success",
        requestId: item.requestId,
        latencyMs: Math.max(0, receipt.finishedAt - receipt.startedAt),
        at: deps.now?.() ?? Date.now(),
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
  if (req.settlement && rejected.length > 0) {
    throw refuse("VALIDATION_REFUSED", "batch_has_rejected_items", "a settlement needs every item to pass", {
      field: "items",
      rejected,
    });
  }
  const tree = merkleBatch(leaves);
  const root = tree.root.toLowerCase() as `0x${string}`;
  const attestation = await deps.signer.attest(deps.domain, {
    requestId: req.settlement?.batchId ?? root,
    phase: AttestationPhase.Completion,
    subject: root,
    outputHash: ZERO_BYTES32,
  });
  deps.attestations.save(req.settlement?.batchId ?? root, attestation);
  const response: BatchCompletionResponse = {
    receiptsRoot: root as BatchCompletionResponse["receiptsRoot"],
    leaves: leaves as BatchCompletionResponse["leaves"],
    accepted,
    rejected,
    attestation,
  };
  if (req.settlement) {
    const terms = req.settlement;
    const total = await checkSettlement(
      terms,
      req.items.map((i) => ({ agent: i.receipt.receipt.agent, price: i.receipt.receipt.price })),
      deps.payments,
    );
    const vHash = vouchersHash(
      terms.vouchers.map((v) => v.sessionId),
      terms.vouchers.map((v) => BigInt(v.cumulativeAmount)),
    );
    const pHash = payoutsHash(
      terms.payouts.map((p) => p.node),
      terms.payouts.map((p) => BigInt(p.amount)),
    );
    const signature = await deps.signer.signSettlement(deps.domain, {
      batchId: terms.batchId,
      gateway: terms.gateway,
      receiptsRoot: root,
      vouchersHash: vHash,
      payoutsHash: pHash,
      total,
    });
    response.settlement = {
      batchId: terms.batchId,
      total: total.toString(),
      vouchersHash: vHash as BatchCompletionResponse["receiptsRoot"],
      payoutsHash: pHash as BatchCompletionResponse["receiptsRoot"],
      validator: deps.signer.address as never,
      signature: signature as never,
    };
  }
  return response;
}

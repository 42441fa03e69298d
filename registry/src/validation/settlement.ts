import {
  hashCanonical,
  merkleBatch,
  payoutsHash,
  type SettlementRequest,
  type SettlementSignature,
  vouchersHash,
} from "@ncn/protocol";
import type { PaymentReader } from "../chain/payment-reader.ts";
import type { BatchKey, ReceiptStore, StoredReceipt } from "../store/receipt-store.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { checkVoucher } from "./check-payment.ts";
import { refuse } from "./refuse.ts";

export interface SettlementDeps {
  payments: PaymentReader;
  signer: AttestationSigner;
  receipts: ReceiptStore;
}

const keyOf = (b: BatchKey) => `${b.gateway}:${b.batchId}`;

/**
 * Signs the EIP-712 `SettlementBatch` of a gateway's batch only when it pays exactly, and
 * once, for receipts this validator attested: the caller is the batch's gateway; the root is
 * the Merkle root of the listed receipt digests; every receipt was charged to a session of
 * the batch, and no other batch that may still settle claims it; each session's voucher is
 * its client's, within the deposit, and raises what was settled by exactly the prices of
 * that session's own receipts; each node gets the sum of its receipts' prices. On signing it
 * claims the receipts for this batch id: the same batch again (a retry) is signed again, a
 * batch id reused for other content is refused, and a claimed receipt joins another batch
 * only once the claiming one is abandoned on chain (one that settled paid it for good).
 */
export async function validateSettlement(
  req: SettlementRequest,
  deps: SettlementDeps,
  caller: `0x${string}`,
): Promise<SettlementSignature> {
  const { payments } = deps;
  const batch: BatchKey = { gateway: req.gateway, batchId: req.batchId };
  if (req.gateway !== caller) {
    throw refuse("FORBIDDEN", "gateway_not_caller", "a gateway may only settle its own batches", {
      field: "gateway",
    });
  }
  if (await payments.batchSettled(req.gateway, req.batchId)) {
    throw refuse("CONFLICT", "batch_already_settled", "this batch id was already settled or abandoned", {
      field: "batchId",
    });
  }
  const content = hashCanonical(req);
  const signedBefore = deps.receipts.batchContent(batch);
  if (signedBefore !== undefined && signedBefore !== content) {
    throw refuse("CONFLICT", "batch_id_reused", "this batch id was signed for other content", {
      field: "batchId",
    });
  }
  const inBatch = new Set(req.sessions.map((s) => s.sessionId));
  const receipts = checkReceipts(req, deps.receipts, inBatch);
  await releaseDeadClaims(receipts, batch, deps);
  if (merkleBatch(req.receiptDigests).root.toLowerCase() !== req.receiptsRoot) {
    throw refuse(
      "VALIDATION_REFUSED",
      "receipts_root_mismatch",
      "receiptsRoot is not the root of the receipts",
      { field: "receiptsRoot" },
    );
  }
  const owedToNode = new Map<string, bigint>();
  const owedBySession = new Map<string, bigint>();
  for (const r of receipts) {
    owedToNode.set(r.agent, (owedToNode.get(r.agent) ?? 0n) + r.price);
    const session = r.sessionId as string;
    owedBySession.set(session, (owedBySession.get(session) ?? 0n) + r.price);
  }
  const paid = checkPayouts(req, owedToNode);
  await checkSessions(req, owedBySession, payments);

  // Claimed before signing, after a last look: a concurrent call for another batch id may
  // have claimed one of these receipts while this one read the chain.
  for (const [i, digest] of req.receiptDigests.entries()) {
    const claim = deps.receipts.get(digest)?.claim;
    if (claim && keyOf(claim) !== keyOf(batch)) throw claimedElsewhere(i, claim);
  }
  deps.receipts.claim(batch, content, req.receiptDigests);
  const signature = await deps.signer.signSettlement(payments.domain, {
    batchId: req.batchId,
    gateway: req.gateway,
    receiptsRoot: req.receiptsRoot,
    vouchersHash: vouchersHash(
      req.sessions.map((s) => s.sessionId),
      req.sessions.map((s) => BigInt(s.voucherAmount)),
    ),
    payoutsHash: payoutsHash(
      req.payouts.map((p) => p.node),
      req.payouts.map((p) => BigInt(p.amount)),
    ),
    total: paid,
  });
  return {
    batchId: req.batchId,
    validator: deps.signer.address as SettlementSignature["validator"],
    total: paid.toString(),
    signature: signature as SettlementSignature["signature"],
  };
}

function claimedElsewhere(i: number, claim: BatchKey) {
  return refuse("CONFLICT", "receipt_claimed", "another settlement batch claims this receipt", {
    field: `receiptDigests[${i}]`,
    batchId: claim.batchId,
  });
}

/** Every listed receipt, once: attested here, charged to a session of the batch, not settled yet. */
function checkReceipts(
  req: SettlementRequest,
  store: ReceiptStore,
  inBatch: ReadonlySet<string>,
): StoredReceipt[] {
  const seen = new Set<string>();
  const out: StoredReceipt[] = [];
  const unattested: number[] = [];
  for (const [i, digest] of req.receiptDigests.entries()) {
    const field = `receiptDigests[${i}]`;
    if (seen.has(digest)) {
      throw refuse("VALIDATION_REFUSED", "duplicate_receipt", "a receipt appears twice", { field });
    }
    seen.add(digest);
    const receipt = store.get(digest);
    if (!receipt) {
      unattested.push(i);
      continue;
    }
    if (receipt.settled) {
      throw refuse("CONFLICT", "receipt_already_settled", "this receipt was already paid", { field });
    }
    if (receipt.sessionId === null) {
      throw refuse(
        "VALIDATION_REFUSED",
        "receipt_not_session",
        "this receipt was paid by an escrow, not a session",
        {
          field,
        },
      );
    }
    if (!inBatch.has(receipt.sessionId)) {
      throw refuse(
        "VALIDATION_REFUSED",
        "receipt_session_not_in_batch",
        "this receipt was charged to a session the batch does not settle",
        { field, sessionId: receipt.sessionId },
      );
    }
    out.push(receipt);
  }
  if (unattested.length > 0) {
    // Every one named at once: the gateway plans them around this validator in one round.
    const what = unattested.length === 1 ? "that receipt" : `${unattested.length} of the receipts`;
    throw refuse("VALIDATION_REFUSED", "receipt_not_attested", `this validator did not attest ${what}`, {
      field: `receiptDigests[${unattested[0]}]`,
      unattested: unattested.slice(0, MAX_NAMED_UNATTESTED),
    });
  }
  return out;
}

/** Most receipt indices one refusal names (a batch holds at most a few hundred). */
const MAX_NAMED_UNATTESTED = 1_000;

/**
 * Receipts claimed by another batch: that batch settled (they are paid: refused, and
 * remembered as settled), was abandoned on chain (the claim is released), or may still
 * settle (refused). One chain read per other batch; an honest batch has none.
 */
async function releaseDeadClaims(
  receipts: readonly StoredReceipt[],
  batch: BatchKey,
  deps: SettlementDeps,
): Promise<void> {
  const others = new Map<string, { claim: BatchKey; index: number }>();
  for (const [index, r] of receipts.entries()) {
    if (r.claim && keyOf(r.claim) !== keyOf(batch) && !others.has(keyOf(r.claim))) {
      others.set(keyOf(r.claim), { claim: r.claim, index });
    }
  }
  for (const { claim, index } of others.values()) {
    if (await deps.payments.batchAbandoned(claim.gateway, claim.batchId)) {
      deps.receipts.release(claim);
      continue;
    }
    // Spent and not abandoned: settled.
    if (await deps.payments.batchSettled(claim.gateway, claim.batchId)) {
      deps.receipts.markSettled(claim);
      throw refuse("CONFLICT", "receipt_already_settled", "this receipt was already paid", {
        field: `receiptDigests[${index}]`,
        batchId: claim.batchId,
      });
    }
    throw claimedElsewhere(index, claim);
  }
}

/** Each node is paid the sum of its receipts, once; returns the total. */
function checkPayouts(req: SettlementRequest, owed: ReadonlyMap<string, bigint>): bigint {
  let paid = 0n;
  const paidTo = new Set<string>();
  for (const [i, p] of req.payouts.entries()) {
    const amount = BigInt(p.amount);
    if (paidTo.has(p.node)) {
      throw refuse("VALIDATION_REFUSED", "duplicate_payout", "a node appears twice in the payouts", {
        field: `payouts[${i}].node`,
      });
    }
    paidTo.add(p.node);
    if (amount !== (owed.get(p.node) ?? 0n)) {
      throw refuse(
        "VALIDATION_REFUSED",
        "payout_mismatch",
        "a payout differs from the node's attested receipts",
        {
          field: `payouts[${i}].amount`,
          owed: (owed.get(p.node) ?? 0n).toString(),
        },
      );
    }
    paid += amount;
  }
  for (const node of owed.keys()) {
    if (!paidTo.has(node)) {
      throw refuse("VALIDATION_REFUSED", "payout_missing", `node ${node} has receipts but no payout`, {
        field: "payouts",
      });
    }
  }
  return paid;
}

/**
 * Each session is the gateway's, open, and its voucher (its client's, within the deposit)
 * raises what was settled by exactly the prices of its own receipts in the batch.
 */
async function checkSessions(
  req: SettlementRequest,
  owed: ReadonlyMap<string, bigint>,
  payments: PaymentReader,
): Promise<void> {
  const sessions = new Set<string>();
  for (const [i, s] of req.sessions.entries()) {
    const field = `sessions[${i}]`;
    if (sessions.has(s.sessionId)) {
      throw refuse("VALIDATION_REFUSED", "duplicate_session", "a session appears twice", {
        field: `${field}.sessionId`,
      });
    }
    sessions.add(s.sessionId);
    const session = await payments.session(s.sessionId);
    if (!session) {
      throw refuse("PAYMENT_REQUIRED", "session_unknown", "no session with this id", {
        field: `${field}.sessionId`,
      });
    }
    if (session.closed) {
      throw refuse("PAYMENT_EXPIRED", "session_closed", "the session is closed", {
        field: `${field}.sessionId`,
      });
    }
    if (session.gateway !== req.gateway) {
      throw refuse("FORBIDDEN", "session_gateway_mismatch", "the session belongs to another gateway", {
        field: `${field}.sessionId`,
      });
    }
    const voucher = await checkVoucher(
      payments.domain,
      session,
      { sessionId: s.sessionId, cumulativeAmount: s.voucherAmount, signature: s.voucherSignature },
      { signature: `${field}.voucherSignature`, amount: `${field}.voucherAmount` },
    );
    const increase = voucher - session.settled;
    const own = owed.get(s.sessionId) ?? 0n;
    if (increase !== own) {
      throw refuse(
        "VALIDATION_REFUSED",
        "session_increase_mismatch",
        "the session's increase is not the sum of its own receipts in the batch",
        { field: `${field}.voucherAmount`, increase: increase.toString(), receipts: own.toString() },
      );
    }
  }
}

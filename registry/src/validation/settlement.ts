import {
  merkleBatch,
  payoutsHash,
  type SettlementRequest,
  type SettlementSignature,
  vouchersHash,
} from "@ncn/protocol";
import type { PaymentReader } from "../chain/payment-reader.ts";
import type { ReceiptStore } from "../store/receipt-store.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { checkVoucher } from "./check-payment.ts";
import { refuse } from "./refuse.ts";

export interface SettlementDeps {
  payments: PaymentReader;
  signer: AttestationSigner;
  receipts: ReceiptStore;
}

/**
 * Signs the EIP-712 `SettlementBatch` of a gateway's batch only when it pays exactly for
 * receipts this validator attested: the root is the Merkle root of the listed receipt
 * digests, each node gets the sum of its receipts' prices, each session's voucher is its
 * client's, raises what was settled and stays within the deposit (its amount becomes the
 * session's settled total), and the sessions spend exactly what the payouts pay.
 */
export async function validateSettlement(
  req: SettlementRequest,
  deps: SettlementDeps,
): Promise<SettlementSignature> {
  const { payments } = deps;
  if (await payments.batchSettled(req.gateway, req.batchId)) {
    throw refuse("CONFLICT", "batch_already_settled", "this batch id was already settled", {
      field: "batchId",
    });
  }
  const digests = new Set<string>();
  const owed = new Map<string, bigint>();
  for (const [i, digest] of req.receiptDigests.entries()) {
    if (digests.has(digest)) {
      throw refuse("VALIDATION_REFUSED", "duplicate_receipt", "a receipt appears twice", {
        field: `receiptDigests[${i}]`,
      });
    }
    digests.add(digest);
    const receipt = deps.receipts.get(digest);
    if (!receipt) {
      throw refuse(
        "VALIDATION_REFUSED",
        "receipt_not_attested",
        "this validator did not attest that receipt",
        {
          field: `receiptDigests[${i}]`,
        },
      );
    }
    owed.set(receipt.agent, (owed.get(receipt.agent) ?? 0n) + receipt.price);
  }
  if (merkleBatch(req.receiptDigests).root.toLowerCase() !== req.receiptsRoot) {
    throw refuse(
      "VALIDATION_REFUSED",
      "receipts_root_mismatch",
      "receiptsRoot is not the root of the receipts",
      {
        field: "receiptsRoot",
      },
    );
  }
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
  let spent = 0n;
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
    spent += voucher - session.settled;
  }
  if (spent !== paid) {
    throw refuse(
      "VALIDATION_REFUSED",
      "payout_total_mismatch",
      "the sessions do not spend what the payouts pay",
      {
        field: "payouts",
        spent: spent.toString(),
        paid: paid.toString(),
      },
    );
  }
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

import {
  type AgentReceiptBatch,
  BaseError,
  type BatchCompletionResponse,
  idToBytes32,
  receiptBatchDigest,
  receiptDigest,
  type StreamBatchItem,
  type StreamBatchRequest,
} from "@ncn/protocol";
import { recoverDigest } from "@ncn/protocol/secp256k1";
import type { PaymentReader } from "../chain/payment-reader.ts";
import type { SubnetRecord } from "../records/record-index.ts";
import { assertAgentEligible } from "./agent-eligibility.ts";
import {
  type AcceptedReceipt,
  acceptReceipts,
  BatchHolds,
  type Rejection,
  rejection,
  signBatch,
} from "./batch.ts";
import { CHAIN_VIEW_MS, chainView } from "./chain-view.ts";
import { checkSessionOpen, checkVoucherSigner, type VoucherFields } from "./check-payment.ts";
import { type CompletionDeps, checkReceiptFields } from "./completion.ts";
import { refuse } from "./refuse.ts";
import type { SignerCache } from "./signer-cache.ts";
import { SortedMerkle } from "./sorted-merkle.ts";
import { spotCheck } from "./spot-check.ts";

export interface StreamDeps extends CompletionDeps {
  payments: PaymentReader;
  /** Voucher and agent batch signers already recovered, shared across calls. */
  signers: SignerCache;
  /** How long chain reads are reused between calls (default CHAIN_VIEW_MS; 0 reads every time). */
  chainViewMs?: number;
}

const VOUCHER_FIELDS: VoucherFields = { signature: "session.signature", amount: "session.cumulativeAmount" };

/**
 * Stream mode's one validation step for many requests of one session.
 *
 * Once per call: the subnet is registered, and the session is the calling gateway's, its
 * voucher is its client's, within the deposit and covers what was charged before plus every
 * item's price; otherwise the whole call is refused. Once per agent batch: its
 * `ReceiptBatch` signature recovers to its agent (a bad one rejects that batch's items
 * only). Per item, hashing only: the receipt is its batch agent's and lies under the batch's
 * root, the item is priced at the subnet's price for the model, the agent may serve it,
 * the receipt matches the request (every completion check but the receipt signature), the
 * request id has no other completion (the same receipt again is accepted as it was), and a
 * sampled share is re-executed. The accepted receipts are kept, charged to the session, and
 * attested as `validateBatch` does: one completion attestation over the root of their digests.
 */
export async function validateStream(
  req: StreamBatchRequest,
  deps: StreamDeps,
  caller: `0x${string}`,
): Promise<BatchCompletionResponse> {
  const now = deps.now?.() ?? Date.now();
  const subnet = deps.index.get("subnet", req.subnet)?.record;
  if (!subnet) {
    throw refuse("SUBNET_NOT_FOUND", "subnet_unknown", `subnet ${req.subnet} is not registered`, {
      field: "subnet",
    });
  }
  let total = 0n;
  for (const item of req.items) total += BigInt(item.price);

  const used = new Set<number>();
  for (const item of req.items) used.add(item.agentBatch);
  // The chain reads wait on I/O while the agent batch signatures are recovered.
  const [, batchErrors] = await Promise.all([
    checkStreamPayment(req, total, deps, caller),
    Promise.all(
      req.agentBatches.map((batch, i) =>
        used.has(i) ? checkAgentBatch(batch, i, deps) : Promise.resolve(undefined),
      ),
    ),
  ]);

  const ids = new Map<string, `0x${string}`>();
  const hashId = (id: string) => {
    let hashed = ids.get(id);
    if (hashed === undefined) {
      hashed = idToBytes32(id);
      ids.set(id, hashed);
    }
    return hashed;
  };
  const prices = new Map<string, bigint>();
  for (const m of subnet.body.models) prices.set(m.id, BigInt(m.price));
  const eligibility = new Map<string, BaseError | undefined>();
  const merkle = new SortedMerkle();
  const sessionId = req.session.sessionId;

  const accepted: number[] = [];
  const rejected: Rejection[] = [];
  const leaves: `0x${string}`[] = [];
  const kept: AcceptedReceipt[] = [];
  const holds = new BatchHolds(
    deps.completions,
    req.items.map((item) => hashId(item.requestId)),
  );
  try {
    for (const [index, item] of req.items.entries()) {
      try {
        const batch = req.agentBatches[item.agentBatch];
        if (!batch) {
          throw refuse("INVALID_INPUT", "agent_batch_unknown", "no agent batch at this index", {
            field: `items[${index}].agentBatch`,
          });
        }
        const batchError = batchErrors[item.agentBatch];
        if (batchError) throw batchError;
        const digest = checkItemReceipt(item, index, batch, merkle, deps);
        const hold = holds.take(hashId(item.requestId), digest, `items[${index}].receipt`);
        if ("first" in hold) {
          // The same receipt validated before (a retried batch): accepted as it was, for the same session.
          checkSameSession(deps, digest, sessionId, index);
        } else {
          checkItemTerms(item, index, batch, subnet, prices, eligibility, deps, now);
          const model = checkReceiptFields(
            {
              requestId: item.requestId,
              subnet: req.subnet,
              price: item.price,
              deadline: item.deadline,
              input: item.input,
              result: item.result,
            },
            item.receipt,
            deps.index,
            hashId,
          );
          await spotCheck(
            { requestId: item.requestId, agent: batch.agent, input: item.input, result: item.result },
            model,
            deps,
          );
        }
        accepted.push(index);
        leaves.push(digest);
        kept.push({
          requestId: item.requestId,
          agent: batch.agent,
          receipt: item.receipt,
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

/** A receipt attested before stays charged to the session it was first charged to. */
function checkSameSession(
  deps: StreamDeps,
  digest: `0x${string}`,
  sessionId: `0x${string}`,
  index: number,
): void {
  const known = deps.receipts.get(digest);
  if (known && known.sessionId !== sessionId.toLowerCase()) {
    throw refuse("CONFLICT", "receipt_charged_elsewhere", "this receipt was charged to another session", {
      field: `items[${index}].receipt`,
    });
  }
}

/**
 * What preprocess checks of a session payment, once for the whole batch: the session is
 * open and the caller's, the voucher is its client's (recovered once, then cached), within the deposit, and
 * covers `chargedBefore + total`.
 */
async function checkStreamPayment(
  req: StreamBatchRequest,
  total: bigint,
  deps: StreamDeps,
  caller: `0x${string}`,
): Promise<void> {
  const { payments } = deps;
  const [state, chainNow] = await chainView(
    payments,
    req.session.sessionId,
    deps.chainViewMs ?? CHAIN_VIEW_MS,
  );
  const session = checkSessionOpen(state, chainNow, "session.sessionId");
  if (session.gateway !== caller) {
    throw refuse("FORBIDDEN", "session_gateway_mismatch", "the session belongs to another gateway", {
      field: "session.sessionId",
    });
  }
  await checkVoucherSigner(payments.domain, session, req.session, VOUCHER_FIELDS, deps.signers);
  const cumulative = BigInt(req.session.cumulativeAmount);
  if (cumulative > session.deposit) {
    throw refuse("INSUFFICIENT_FUNDS", "voucher_exceeds_deposit", "voucher exceeds the session's deposit", {
      field: VOUCHER_FIELDS.amount,
      deposit: session.deposit.toString(),
    });
  }
  // Not max(chargedBefore, settled): a validator asked a moment after the others may see
  // this very batch already settled. Understating chargedBefore gains a gateway nothing:
  // settlement pays only up to a voucher amount the validated charges reach exactly.
  const chargedBefore = BigInt(req.chargedBefore);
  const floor = chargedBefore;
  if (cumulative < floor + total) {
    throw refuse(
      "INSUFFICIENT_FUNDS",
      "voucher_underpaid",
      "the voucher does not cover what was charged before plus this batch",
      {
        field: VOUCHER_FIELDS.amount,
        required: (floor + total).toString(),
        chargedBefore: chargedBefore.toString(),
        settled: session.settled.toString(),
        batchTotal: total.toString(),
      },
    );
  }
}

/** The agent batch's typed refusal, or undefined when its signature is its agent's. */
async function checkAgentBatch(
  batch: AgentReceiptBatch,
  i: number,
  deps: StreamDeps,
): Promise<BaseError | undefined> {
  const field = `agentBatches[${i}].signature`;
  let signer: string;
  try {
    signer = await deps.signers.recover(
      `batch:${batch.agent}:${batch.receiptsRoot}:${batch.count}:${batch.signature}`,
      () =>
        recoverDigest(
          receiptBatchDigest(deps.domain, {
            agent: batch.agent,
            receiptsRoot: batch.receiptsRoot,
            count: batch.count,
          }),
          batch.signature,
        ),
    );
  } catch (e) {
    return refuse("SIGNATURE_INVALID", "agent_batch_signature", "agent batch signature cannot be recovered", {
      field,
      agentBatch: i,
      cause: String(e),
    });
  }
  if (signer !== batch.agent) {
    return refuse("SIGNATURE_INVALID", "agent_batch_signer", "the agent batch is not signed by its agent", {
      field,
      agentBatch: i,
    });
  }
  return undefined;
}

/** The receipt is the batch agent's and its digest lies under the batch's root; returns the digest. */
function checkItemReceipt(
  item: StreamBatchItem,
  index: number,
  batch: AgentReceiptBatch,
  merkle: SortedMerkle,
  deps: StreamDeps,
): `0x${string}` {
  if (item.receipt.agent !== batch.agent) {
    throw refuse("VALIDATION_REFUSED", "agent_mismatch", "the receipt names another agent than its batch", {
      field: `items[${index}].receipt.agent`,
    });
  }
  const digest = receiptDigest(deps.domain, item.receipt);
  if (!merkle.verify(batch.receiptsRoot, digest, item.proof)) {
    throw refuse(
      "SIGNATURE_INVALID",
      "receipt_not_in_batch",
      "the receipt is not under its agent batch's signed root",
      { field: `items[${index}].proof`, agentBatch: item.agentBatch },
    );
  }
  return digest;
}

/**
 * What preprocess checks of a request's terms: the subnet offers the model, the price is
 * the subnet's, and the agent may serve the model (checked once per agent and model).
 */
function checkItemTerms(
  item: StreamBatchItem,
  index: number,
  batch: AgentReceiptBatch,
  subnet: SubnetRecord,
  prices: ReadonlyMap<string, bigint>,
  eligibility: Map<string, BaseError | undefined>,
  deps: StreamDeps,
  now: number,
): void {
  const model = item.input.model;
  const min = prices.get(model);
  if (min === undefined) {
    throw refuse(
      "MODEL_NOT_FOUND",
      "model_not_in_subnet",
      `model ${model} is not offered by ${subnet.body.id}`,
      {
        field: `items[${index}].input.model`,
      },
    );
  }
  if (BigInt(item.price) !== min) {
    throw refuse("VALIDATION_REFUSED", "price_not_subnet_price", "the price is not the subnet's price", {
      field: `items[${index}].price`,
      price: min.toString(),
    });
  }
  const key = `${batch.agent}:${model}`;
  if (!eligibility.has(key)) {
    let error: BaseError | undefined;
    try {
      assertAgentEligible(deps.index, deps.reputation, batch.agent, subnet, model, now);
    } catch (e) {
      if (!(e instanceof BaseError)) throw e;
      error = e;
    }
    eligibility.set(key, error);
  }
  const error = eligibility.get(key);
  if (error) throw error;
}

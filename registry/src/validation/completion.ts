import {
  AttestationPhase,
  type AttestationResponse,
  type CompletionRequest,
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  type NcnDomain,
  type ReceiptJson,
  type ReputationEvent,
  receiptDigest,
  receiptMismatch,
  receiptStructHash,
  requestCharge,
  requestMaximum,
  type TaskInput,
  type TaskResult,
} from "@ncn/protocol";
import { recoverDigest } from "@ncn/protocol/secp256k1";
import type { ModelRecord, RecordIndex } from "../records/record-index.ts";
import type { AttestationStore } from "../store/attestation-store.ts";
import type { CompletionStore } from "../store/completion-store.ts";
import type { ReceiptStore } from "../store/receipt-store.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { holdCompletion } from "./one-completion.ts";
import { checkPreattested, type PreattestedDeps } from "./preattested.ts";
import { refuse } from "./refuse.ts";
import { resultKindMismatch } from "./result-kind.ts";
import { type SpotCheckDeps, spotCheck } from "./spot-check.ts";

export interface CompletionDeps extends SpotCheckDeps, PreattestedDeps {
  domain: NcnDomain;
  signer: AttestationSigner;
  attestations: AttestationStore;
  /** Receipts this validator attested (what it later agrees to settle). */
  receipts: ReceiptStore;
  /** The one completion attested per request id. */
  completions: CompletionStore;
  /**
   * Successes this validator saw itself, one call per batch (each receipt stored for the first
   * time: the receipt store's one row per request id is what makes a success count once).
   * Without it, each success goes to `onReputationEvent`.
   */
  onLocalSuccesses?: (events: readonly ReputationEvent[]) => void;
  /** Runs store writes as one transaction (one commit for a whole batch); by default each write commits. */
  transaction?: <T>(run: () => T) => T;
}

/**
 * The checks of a completion that need no signing: the receipt is signed by the agent and
 * matches the request, the model hash is the registered one, the input and output hash to
 * what the receipt says, and the agent finished before the deadline. Returns the model.
 */
export async function checkCompletion(req: CompletionRequest, deps: CompletionDeps): Promise<ModelRecord> {
  const { receipt, signature } = req.receipt;
  if (receipt.agent !== req.agent) {
    throw refuse("VALIDATION_REFUSED", "agent_mismatch", "the receipt names another agent", {
      field: "receipt.agent",
    });
  }
  let signer: string;
  try {
    signer = await recoverDigest(receiptDigest(deps.domain, receipt), signature);
  } catch (e) {
    throw refuse("SIGNATURE_INVALID", "receipt_signature", "receipt signature cannot be recovered", {
      field: "receipt.signature",
      cause: String(e),
    });
  }
  if (signer.toLowerCase() !== receipt.agent) {
    throw refuse("SIGNATURE_INVALID", "receipt_signer", "the receipt is not signed by its agent", {
      field: "receipt.signature",
    });
  }
  return checkReceiptFields(req, receipt, deps.index);
}

/** What `checkReceiptFields` reads of a request: a completion, or one item of a stream batch. */
export interface ReceiptSubject {
  requestId: string;
  subnet: string;
  price: string;
  deadline: number;
  input: TaskInput;
  result: TaskResult;
}

/**
 * Ids hashed to bytes32 once per call instead of once per item (keccak of the id).
 * Without one, every id is hashed again.
 */
export type IdHasher = (id: string) => `0x${string}`;

/**
 * Every check of a completion except who signed the receipt: the receipt is for this
 * request, subnet, model and price, the model hash is the registered one, the input and
 * output hash to what the receipt says (protocol's `receiptMismatch`, the check gateways
 * make too), and the agent finished before the deadline. Returns the model.
 */
export function checkReceiptFields(
  req: ReceiptSubject,
  receipt: ReceiptJson,
  index: RecordIndex,
  hashId: IdHasher = idToBytes32,
): ModelRecord {
  const model = index.get("model", req.input.model)?.record;
  if (!model) {
    throw refuse("MODEL_NOT_FOUND", "model_unknown", `model ${req.input.model} is not registered`, {
      field: "input.model",
    });
  }
  if (req.result.kind !== req.input.kind) throw resultKindMismatch(req.input, req.result);
  const charge = chargeOf(req, index);
  const mismatch = receiptMismatch(receipt, {
    requestId: idToBytes32(req.requestId),
    subnetId: hashId(req.subnet),
    modelId: hashId(req.input.model),
    modelHash: model.body.sha256,
    price: charge,
    inputHash: hashTaskInput(req.input),
    outputHash: hashTaskResult(req.result),
  });
  if (mismatch?.field === "modelHash") {
    throw refuse(
      "MODEL_HASH_MISMATCH",
      mismatch.reason,
      "the receipt's model hash is not the registered one",
      {
        field: "receipt.modelHash",
        expected: model.body.sha256,
      },
    );
  }
  if (mismatch) {
    throw refuse("VALIDATION_REFUSED", mismatch.reason, mismatch.message, {
      field: `receipt.${mismatch.field}`,
    });
  }
  if (receipt.startedAt > receipt.finishedAt) {
    throw refuse("VALIDATION_REFUSED", "times_inverted", "the receipt finished before it started", {
      field: "receipt.finishedAt",
    });
  }
  if (receipt.finishedAt > req.deadline) {
    throw refuse("VALIDATION_REFUSED", "finished_after_deadline", "the agent finished after the deadline", {
      field: "receipt.finishedAt",
      deadline: req.deadline,
    });
  }
  return model;
}

/**
 * What the receipt of `req` must be priced: `requestCharge` of its result under the subnet
 * record's prices for the model, after checking that the price the request was authorised
 * and pre-attested for is `requestMaximum` of its input (a gateway cannot widen it, an agent
 * cannot charge past it). A request of a model priced per request is charged its price.
 */
function chargeOf(req: ReceiptSubject, index: RecordIndex): string {
  const entry = index.get("subnet", req.subnet)?.record.body.models.find((m) => m.id === req.input.model);
  if (!entry) {
    throw refuse(
      "MODEL_NOT_FOUND",
      "model_not_in_subnet",
      `model ${req.input.model} is not offered by ${req.subnet}`,
      {
        field: "input.model",
      },
    );
  }
  let maximum: bigint;
  let charge: bigint;
  try {
    maximum = requestMaximum(entry, req.input);
    charge = requestCharge(entry, req.input, req.result);
  } catch (e) {
    throw refuse(
      "VALIDATION_REFUSED",
      "price_unpriceable",
      "the request cannot be priced by the subnet's prices",
      {
        field: "price",
        cause: String(e),
      },
    );
  }
  if (BigInt(req.price) !== maximum) {
    throw refuse(
      "VALIDATION_REFUSED",
      "price_not_subnet_price",
      "the price is not what the subnet's prices make of the input",
      {
        field: "price",
        price: maximum.toString(),
      },
    );
  }
  return charge.toString();
}

/**
 * A `generate` result's `prompt_tokens` against the model's own tokenizer, on every completion
 * (the count prices the request): an agent cannot inflate it. A validator that cannot count
 * (no re-executor, a model it cannot load) leaves it to the spot check.
 */
export async function checkPromptTokens(
  req: CompletionRequest,
  model: ModelRecord,
  deps: CompletionDeps,
): Promise<void> {
  const count = deps.reexecutor?.countPromptTokens;
  if (req.input.kind !== "generate" || req.result.kind !== "generate" || !count) return;
  if (model.body.runtime !== "onnx") return;
  let tokens: number;
  try {
    tokens = await count.call(deps.reexecutor, model.body, req.input.prompt);
  } catch (e) {
    deps.log?.warn("could not count the prompt's tokens", { requestId: req.requestId, err: e });
    return;
  }
  if (tokens === req.result.prompt_tokens) return;
  deps.onReputationEvent?.({
    id: `${req.requestId}:spot_check_failed`,
    agent: req.agent,
    kind: "spot_check_failed",
    requestId: req.requestId,
    reason: `prompt_tokens ${req.result.prompt_tokens}, the prompt has ${tokens}`,
    at: deps.now?.() ?? Date.now(),
  } as ReputationEvent);
  throw refuse(
    "VALIDATION_REFUSED",
    "prompt_tokens_mismatch",
    `the prompt has ${tokens} tokens, the result counts ${req.result.prompt_tokens}`,
    { field: "result.prompt_tokens", expected: tokens },
  );
}

/**
 * Validates a completion and signs the phase 1 `Attestation` {requestId, subject: receipt
 * struct hash, outputHash: receipt.outputHash}: only for a request this validator
 * pre-attested for this agent with the same terms, while the agent may still serve it,
 * after every receipt check and a sampled re-execution. One completion per request id,
 * ever: the same one again returns the stored attestation, another one is refused.
 */
export async function validateCompletion(
  req: CompletionRequest,
  deps: CompletionDeps,
  caller: `0x${string}`,
): Promise<AttestationResponse> {
  const now = deps.now?.() ?? Date.now();
  const { receipt } = req.receipt;
  const requestId = idToBytes32(req.requestId) as AttestationResponse["requestId"];
  const digest = receiptDigest(deps.domain, receipt);
  const hold = holdCompletion(deps.completions, requestId, digest, "receipt");
  if ("first" in hold) {
    if (hold.first.receiptsRoot === null) return { requestId, attestation: hold.first.attestation };
    throw refuse("CONFLICT", "completion_in_batch", "this receipt was attested as part of a batch", {
      field: "receipt",
      first: hold.first,
    });
  }
  try {
    const facts = checkPreattested(
      deps,
      {
        gateway: caller,
        requestId: req.requestId,
        agent: req.agent,
        subnet: req.subnet,
        model: req.input.model,
        price: req.price,
        deadline: req.deadline,
      },
      now,
    );
    const model = await checkCompletion(req, deps);
    await checkPromptTokens(req, model, deps);
    const outcome = await spotCheck(req, model, deps);
    const attestation = await deps.signer.attest(deps.domain, {
      requestId,
      phase: AttestationPhase.Completion,
      subject: receiptStructHash(receipt),
      outputHash: receipt.outputHash,
    });
    const store = () => {
      deps.attestations.save(requestId, attestation, now);
      deps.receipts.add(
        { digest, requestId, agent: receipt.agent, price: BigInt(receipt.price), sessionId: facts.sessionId },
        { receiptsRoot: null, attestation },
        now,
      );
    };
    if (deps.transaction) deps.transaction(store);
    else store();
    deps.onReputationEvent?.({
      id: `${req.requestId}:success`,
      agent: req.agent,
      kind: "success",
      requestId: req.requestId,
      latencyMs: Math.max(0, receipt.finishedAt - receipt.startedAt),
      at: now,
    } as ReputationEvent);
    return { requestId, attestation, ...(outcome === "passed" ? { spotChecked: true } : {}) };
  } finally {
    hold.release();
  }
}

/** Leaf of a receipt in a settlement batch: its EIP-712 digest. */
export function receiptLeaf(domain: NcnDomain, req: CompletionRequest): `0x${string}` {
  return receiptDigest(domain, req.receipt.receipt);
}

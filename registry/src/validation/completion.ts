import { tensorsClose } from "@ncn/agent/onnx";
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
  receiptMessage,
  receiptStructHash,
  type TaskInput,
  type TaskResult,
  type Tensor,
  tensorMapFromJson,
  typedData,
} from "@ncn/protocol";
import { recoverDigest } from "@ncn/protocol/secp256k1";
import type { Logger } from "../logger.ts";
import type { ModelRecord, RecordIndex } from "../records/record-index.ts";
import type { Reexecutor } from "../reexec/reexecutor.ts";
import type { AttestationStore } from "../store/attestation-store.ts";
import type { ReceiptStore } from "../store/receipt-store.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { refuse } from "./refuse.ts";

export interface SpotCheckPolicy {
  /** Absolute tolerance of an element. */
  atol: number;
  /** Relative tolerance, times |expected|. */
  rtol: number;
  /** Share of completions re-executed, 0..1. */
  fraction: number;
  /** Source of randomness in [0, 1) for sampling. */
  random?: () => number;
}

export interface CompletionDeps {
  index: RecordIndex;
  domain: NcnDomain;
  signer: AttestationSigner;
  attestations: AttestationStore;
  /** Receipts this validator attested (what it later agrees to settle). */
  receipts: ReceiptStore;
  reexecutor?: Reexecutor | undefined;
  spotCheck: SpotCheckPolicy;
  /** Every re-execution's outcome (for counters). */
  onSpotCheck?: (passed: boolean) => void;
  /** Reputation-affecting outcomes (success, failed spot check) go here. */
  onReputationEvent?: (event: ReputationEvent) => void;
  log?: Logger;
  now?: () => number;
  /** Runs store writes as one transaction (one commit for a whole batch); by default each write commits. */
  transaction?: <T>(run: () => T) => T;
}

export type SpotCheckOutcome = "passed" | "skipped" | "unavailable";

/** What a spot check reads of a request (the agent is who a failure is reported against). */
export type SpotCheckSubject = Pick<CompletionRequest, "requestId" | "agent" | "input" | "result">;

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
 * output hash to what the receipt says, and the agent finished before the deadline.
 * Returns the model.
 */
export function checkReceiptFields(
  req: ReceiptSubject,
  receipt: ReceiptJson,
  index: RecordIndex,
  hashId: IdHasher = idToBytes32,
): ModelRecord {
  const fields: [keyof typeof receipt, string, string][] = [
    ["requestId", idToBytes32(req.requestId), "request id"],
    ["subnetId", hashId(req.subnet), "subnet"],
    ["modelId", hashId(req.input.model), "model"],
  ];
  for (const [field, expected, what] of fields) {
    if (receipt[field] !== expected) {
      throw refuse(
        "VALIDATION_REFUSED",
        `${field.replace(/Id$/, "")}_mismatch`,
        `the receipt is for another ${what}`,
        {
          field: `receipt.${field}`,
        },
      );
    }
  }
  if (receipt.price !== req.price) {
    throw refuse("VALIDATION_REFUSED", "price_mismatch", "the receipt's price differs from the request's", {
      field: "receipt.price",
    });
  }
  const model = index.get("model", req.input.model)?.record;
  if (!model) {
    throw refuse("MODEL_NOT_FOUND", "model_unknown", `model ${req.input.model} is not registered`, {
      field: "input.model",
    });
  }
  if (receipt.modelHash !== model.body.sha256) {
    throw refuse(
      "MODEL_HASH_MISMATCH",
      "model_hash_mismatch",
      "the receipt's model hash is not the registered one",
      {
        field: "receipt.modelHash",
        expected: model.body.sha256,
      },
    );
  }
  if (req.result.kind !== req.input.kind) {
    throw refuse("VALIDATION_REFUSED", "result_kind_mismatch", "the result is not of the task's kind", {
      field: "result.kind",
    });
  }
  if (hashTaskInput(req.input) !== receipt.inputHash) {
    throw refuse(
      "VALIDATION_REFUSED",
      "input_hash_mismatch",
      "the input does not hash to the receipt's inputHash",
      {
        field: "receipt.inputHash",
      },
    );
  }
  if (hashTaskResult(req.result) !== receipt.outputHash) {
    throw refuse(
      "VALIDATION_REFUSED",
      "output_hash_mismatch",
      "the output does not hash to the receipt's outputHash",
      {
        field: "receipt.outputHash",
      },
    );
  }
  if (receipt.startedAt > receipt.finishedAt) {
    throw refuse("VALIDATION_REFUSED", "times_inverted", "the receipt finished before it started", {
      field: "receipt.finishedAt",
    });
  }
  if (receipt.finishedAt > req.deadline) {
    throw refuse("DEADLINE_EXCEEDED", "finished_after_deadline", "the agent finished after the deadline", {
      field: "receipt.finishedAt",
      deadline: req.deadline,
    });
  }
  return model;
}

/**
 * Re-executes a sampled share of tensor completions and compares the outputs within the
 * tolerance. A mismatch is a slashing offence for the agent (reported, then refused).
 */
export async function spotCheck(
  req: SpotCheckSubject,
  model: ModelRecord,
  deps: CompletionDeps,
): Promise<SpotCheckOutcome> {
  const random = deps.spotCheck.random ?? Math.random;
  if (deps.spotCheck.fraction <= 0 || random() >= deps.spotCheck.fraction) return "skipped";
  if (req.input.kind !== "tensor" || req.result.kind !== "tensor" || model.body.runtime !== "onnx")
    return "skipped";
  if (!deps.reexecutor) return "unavailable";
  let expected: Record<string, Tensor>;
  try {
    expected = await deps.reexecutor.run(model.body, tensorMapFromJson(req.input.inputs));
  } catch (e) {
    deps.log?.warn("spot check could not re-execute", { requestId: req.requestId, model: model.key, err: e });
    return "unavailable";
  }
  const cmp = tensorsClose(expected, tensorMapFromJson(req.result.outputs), {
    atol: deps.spotCheck.atol,
    rtol: deps.spotCheck.rtol,
  });
  deps.onSpotCheck?.(cmp.equal);
  if (cmp.equal) return "passed";
  const reason = cmp.reason ?? "outputs differ";
  deps.onReputationEvent?.({
    id: `${req.requestId}:spot_check_failed`,
    agent: req.agent,
    kind: "spot_check_failed",
    requestId: req.requestId,
    reason: reason.slice(0, 200),
    at: deps.now?.() ?? Date.now(),
  } as ReputationEvent);
  throw refuse(
    "VALIDATION_REFUSED",
    "spot_check_failed",
    `re-execution disagrees with the agent: ${reason}`,
    { field: "result.outputs", maxAbsDiff: cmp.maxAbsDiff },
  );
}

/**
 * Validates a completion (checks, then a sampled re-execution) and signs the phase 1
 * `Attestation` {requestId, subject: receipt struct hash, outputHash: receipt.outputHash}.
 */
export async function validateCompletion(
  req: CompletionRequest,
  deps: CompletionDeps,
): Promise<AttestationResponse> {
  const model = await checkCompletion(req, deps);
  const outcome = await spotCheck(req, model, deps);
  const { receipt } = req.receipt;
  const attestation = await deps.signer.attest(deps.domain, {
    requestId: receipt.requestId,
    phase: AttestationPhase.Completion,
    subject: receiptStructHash(receipt),
    outputHash: receipt.outputHash,
  });
  const now = deps.now?.() ?? Date.now();
  deps.attestations.save(receipt.requestId, attestation, now);
  deps.receipts.add(
    {
      digest: receiptLeaf(deps.domain, req),
      requestId: receipt.requestId,
      agent: receipt.agent,
      price: BigInt(receipt.price),
    },
    now,
  );
  deps.onReputationEvent?.({
    id: `${req.requestId}:success`,
    agent: req.agent,
    kind: "success",
    requestId: req.requestId,
    latencyMs: Math.max(0, receipt.finishedAt - receipt.startedAt),
    at: now,
  } as ReputationEvent);
  return {
    requestId: receipt.requestId,
    attestation,
    ...(outcome === "passed" ? { spotChecked: true } : {}),
  };
}

/** Leaf of a receipt in a settlement batch: its EIP-712 digest. */
export function receiptLeaf(domain: NcnDomain, req: CompletionRequest): `0x${string}` {
  return receiptDigest(domain, req.receipt.receipt);
}

import {
  AttestationPhase,
  type AttestationResponse,
  idToBytes32,
  type PreprocessRequest,
  preprocessSubject,
} from "@ncn/protocol";
import type { PaymentReader } from "../chain/payment-reader.ts";
import { ZERO_BYTES32 } from "../constants.ts";
import type { RecordIndex } from "../records/record-index.ts";
import type { ReputationBook } from "../reputation/reputation-book.ts";
import type { AttestationStore } from "../store/attestation-store.ts";
import type { PreattestationStore } from "../store/preattestation-store.ts";
import { assertAgentEligible } from "./agent-eligibility.ts";
import type { AttestationSigner } from "./attestation-signer.ts";
import { CHAIN_VIEW_MS } from "./chain-view.ts";
import { checkPayment } from "./check-payment.ts";
import { refuse } from "./refuse.ts";

export interface PreprocessDeps {
  index: RecordIndex;
  reputation: ReputationBook;
  payments: PaymentReader;
  signer: AttestationSigner;
  attestations: AttestationStore;
  /** Where the attested terms are kept, for the completion to match. */
  preattested: PreattestationStore;
  now?: () => number;
  /** How long the chain's time is reused between session calls (default CHAIN_VIEW_MS; 0 reads every time). */
  chainViewMs?: number;
}

/**
 * Pre-validates a request before dispatch for the gateway that asks: the subnet and model
 * exist and the price is the subnet's price for the model (at least its base fee when it is
 * priced per token: then the price is the request's maximum), the agent is eligible, and the
 * payment holds on chain for that gateway; then signs the phase 0 `Attestation` over
 * `preprocessSubject(request)` and keeps the terms, which the completion must match.
 */
export async function validatePreprocess(
  req: PreprocessRequest,
  deps: PreprocessDeps,
  caller: `0x${string}`,
): Promise<AttestationResponse> {
  const now = deps.now?.() ?? Date.now();
  if (req.deadline <= now) {
    // The caller's request is wrong (4xx): nothing here timed out.
    throw refuse("VALIDATION_REFUSED", "deadline_passed", "the deadline has already passed", {
      field: "deadline",
    });
  }
  const subnet = deps.index.get("subnet", req.subnet)?.record;
  if (!subnet)
    throw refuse("SUBNET_NOT_FOUND", "subnet_unknown", `subnet ${req.subnet} is not registered`, {
      field: "subnet",
    });
  const priced = subnet.body.models.find((m) => m.id === req.model);
  if (!priced) {
    throw refuse(
      "MODEL_NOT_FOUND",
      "model_not_in_subnet",
      `model ${req.model} is not offered by ${req.subnet}`,
      {
        field: "model",
      },
    );
  }
  if (!deps.index.get("model", req.model)) {
    throw refuse("MODEL_NOT_FOUND", "model_unknown", `model ${req.model} is not registered`, {
      field: "model",
    });
  }
  const price = BigInt(req.price);
  // Priced per token, the price is the request's maximum: at least the base fee here (the
  // input is not sent before dispatch); the completion checks it is `requestMaximum` of the input.
  const fits = priced.pricing ? price >= BigInt(priced.price) : price === BigInt(priced.price);
  if (!fits) {
    throw refuse("VALIDATION_REFUSED", "price_not_subnet_price", "the price is not the subnet's price", {
      field: "price",
      price: priced.price,
      ...(priced.pricing ? { pricing: priced.pricing } : {}),
    });
  }
  assertAgentEligible(deps.index, deps.reputation, req.agent, subnet, req.model, now);
  const requestId = idToBytes32(req.requestId);
  await checkPayment(
    deps.payments,
    {
      requestId,
      subnetId: idToBytes32(req.subnet),
      price,
      deadline: req.deadline,
      payment: req.payment,
      gateway: caller,
    },
    deps.chainViewMs ?? CHAIN_VIEW_MS,
  );
  const attestation = await deps.signer.attest(deps.payments.domain, {
    requestId,
    phase: AttestationPhase.Preprocess,
    subject: preprocessSubject(req),
    outputHash: ZERO_BYTES32,
  });
  deps.attestations.save(requestId, attestation, now);
  deps.preattested.save(
    {
      requestId,
      agent: req.agent,
      subnet: req.subnet,
      model: req.model,
      price,
      sessionId: req.payment.mode === "session" ? req.payment.sessionId : null,
      deadline: req.deadline,
      gateway: caller,
    },
    now,
  );
  return { requestId: requestId as AttestationResponse["requestId"], attestation };
}

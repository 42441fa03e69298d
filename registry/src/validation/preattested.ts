import { idToBytes32 } from "@ncn/protocol";
import type { RecordIndex } from "../records/record-index.ts";
import type { ReputationBook } from "../reputation/reputation-book.ts";
import type { Preattestation, PreattestationStore } from "../store/preattestation-store.ts";
import { assertAgentEligible } from "./agent-eligibility.ts";
import { refuse } from "./refuse.ts";

export interface PreattestedDeps {
  index: RecordIndex;
  reputation: ReputationBook;
  preattested: PreattestationStore;
}

/** The terms of a completion that its pre-attestation fixed. */
export interface CompletionTerms {
  /** The gateway asking for the completion: the one that asked for the pre-attestation. */
  gateway: `0x${string}`;
  requestId: string;
  agent: string;
  subnet: string;
  model: string;
  price: string;
  deadline: number;
}

/**
 * Throws a typed refusal unless this validator pre-attested the request for this agent,
 * asked by the same gateway, with the same subnet, model, price and deadline, and the agent may still serve it now
 * (registered, alive, in the subnet, reputable). Returns the pre-attested terms (their
 * payment says which session the receipt is charged to).
 */
export function checkPreattested(
  deps: PreattestedDeps,
  terms: CompletionTerms,
  now: number,
  prefix = "",
): Preattestation {
  const facts = deps.preattested.get(idToBytes32(terms.requestId), terms.agent);
  if (!facts) {
    throw refuse(
      "VALIDATION_REFUSED",
      "not_preattested",
      "this validator did not pre-attest this request for this agent",
      { field: `${prefix}requestId` },
    );
  }
  if (facts.gateway !== terms.gateway) {
    throw refuse(
      "FORBIDDEN",
      "preprocess_gateway_mismatch",
      "another gateway asked for this request's pre-attestation",
      {
        field: `${prefix}requestId`,
      },
    );
  }
  const same: [Exclude<keyof CompletionTerms, "gateway">, boolean][] = [
    ["subnet", facts.subnet === terms.subnet],
    ["model", facts.model === terms.model],
    ["price", facts.price === BigInt(terms.price)],
    ["deadline", facts.deadline === terms.deadline],
  ];
  for (const [field, ok] of same) {
    if (!ok) {
      throw refuse(
        "VALIDATION_REFUSED",
        "preprocess_mismatch",
        `the ${field} differs from what was pre-attested`,
        { field: `${prefix}${field === "model" ? "input.model" : field}`, preattested: String(facts[field]) },
      );
    }
  }
  const subnet = deps.index.get("subnet", terms.subnet)?.record;
  if (!subnet) {
    throw refuse("SUBNET_NOT_FOUND", "subnet_unknown", `subnet ${terms.subnet} is not registered`, {
      field: `${prefix}subnet`,
    });
  }
  assertAgentEligible(deps.index, deps.reputation, terms.agent, subnet, terms.model, now);
  return facts;
}

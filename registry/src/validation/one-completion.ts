import type { AttestationSig } from "@ncn/protocol";
import type { AttestedCompletion, CompletionStore } from "../store/completion-store.ts";
import { refuse } from "./refuse.ts";

/** A request id held for one receipt while it is validated; `release` when done. */
export type CompletionHold =
  | { first: AttestedCompletion & { attestation: AttestationSig } }
  | { release: () => void };

/**
 * Enforces one completion attestation per request id, ever. The same receipt again
 * (`first`, by digest) is a retry: the caller answers with what was attested. Another
 * receipt for a request id already attested, or being validated by a concurrent call, is
 * refused with CONFLICT, the first attestation in the details.
 */
export function holdCompletion(
  store: CompletionStore,
  requestId: `0x${string}`,
  digest: `0x${string}`,
  field: string,
  /** What was attested for the request id, when the caller already read it (a batch reads all at once). */
  known?: { first: AttestedCompletion | undefined },
): CompletionHold {
  const first = known ? known.first : store.get(requestId);
  if (first && first.digest !== digest.toLowerCase()) {
    throw refuse("CONFLICT", "completion_conflict", "this request id was attested with another completion", {
      field,
      first: { digest: first.digest, receiptsRoot: first.receiptsRoot, attestation: first.attestation },
    });
  }
  if (first?.attestation) return { first: { ...first, attestation: first.attestation } };
  // Not attested yet, or the same receipt attested before this node kept attestations: it is
  // validated (again); signatures are deterministic, so an attestation comes out the same.
  const other = store.hold(requestId, digest);
  if (other !== undefined) {
    throw refuse(
      "CONFLICT",
      "completion_in_progress",
      "another completion of this request id is being validated",
      { field, digest: other },
    );
  }
  return { release: () => store.release(requestId) };
}

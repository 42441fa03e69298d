import type { AttestedCompletion, CompletionStore } from "../store/completion-store.ts";
import { refuse } from "./refuse.ts";

/** A request id held for one receipt while it is validated; `release` when done. */
export type CompletionHold = { first: AttestedCompletion } | { release: () => void };

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
): CompletionHold {
  const first = store.get(requestId);
  if (first) {
    if (first.digest === digest.toLowerCase()) return { first };
    throw refuse("CONFLICT", "completion_conflict", "this request id was attested with another completion", {
      field,
      first: { digest: first.digest, receiptsRoot: first.receiptsRoot, attestation: first.attestation },
    });
  }
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

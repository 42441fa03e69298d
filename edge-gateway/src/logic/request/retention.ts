import { isTerminal } from "../request-machine.ts";
import type { RequestRecord } from "./types.ts";

/**
 * When an ended request's record may be deleted: `retentionMs` after its last change. Until
 * then its payer can read it back (state, result, receipt, attestations); after, the id reads
 * as never used. Nothing about money waits on it: a session charge is in the Session object
 * once the request returned, an escrow is completed before it, and a failed request's
 * reservation is released when it fails (and again whenever the record is loaded).
 * Undefined while the request is still running.
 */
export function forgetAt(req: RequestRecord, retentionMs: number): number | undefined {
  return isTerminal(req.state) ? req.updatedAt + retentionMs : undefined;
}

/** Whether the record is past its retention at `now` (see `forgetAt`). */
export function forgettable(req: RequestRecord, now: number, retentionMs: number): boolean {
  const at = forgetAt(req, retentionMs);
  return at !== undefined && now >= at;
}

import type { PendingCharge } from "./batch.ts";

/** Why a charge was released (the client is not charged for it). */
export type ReleaseReason = "quorum_lost" | "voucher_gap" | "unacknowledged" | "session_closed";

export interface Release {
  charge: PendingCharge;
  reason: ReleaseReason;
  /** For people: which validators or vouchers made it unpayable. */
  detail: string;
}

export interface ReleaseInput {
  /** Charges in no unfinished batch, in charge order. */
  charges: readonly PendingCharge[];
  /** Every configured validator (URL). */
  validators: readonly string[];
  threshold: number;
  /** When each validator stopped answering (absent or null while it answers). */
  downSince: ReadonlyMap<string, number | null>;
  now: number;
  /** How long an outage or a voucher gap lasts before its charges are given up. */
  releaseAfterMs: number;
  /** Per session known to the chain: what is settled, the vouchers, and whether it is closed. */
  sessions: ReadonlyMap<string, { settled: bigint; amounts: ReadonlySet<bigint>; closed: boolean }>;
  /** Per session, when a charge of it was last released. */
  lastReleaseAt: ReadonlyMap<string, number>;
}

/**
 * Which waiting charges can never be settled, so the client must not be charged for them:
 * - `quorum_lost`: fewer than `threshold` of the validators that attested the receipt can
 *   still sign for it (the others refused it, or have not answered for `releaseAfterMs`);
 * - `session_closed`: the session is closed on chain, nothing more can be settled from it;
 * - `voucher_gap`: a release shifts the session's later charges, so the cumulative amounts
 *   the client signed (which counted the released price) no longer land on them. Charges
 *   that no voucher covers, `releaseAfterMs` after the last release and after they were
 *   made, are released too. With one price per session the client's earlier vouchers
 *   match the shifted totals and nothing is released this way.
 * - `unacknowledged`: with no earlier release, charges that no voucher covers
 *   `releaseAfterMs` after they were made. The client acknowledges what it received with a
 *   voucher of exactly that (after each stream batch, and once idle on the per-request
 *   path), so these are results it says it never got: a batch a gateway journaled and then
 *   died before sending, say. Until then they wait for its voucher.
 * Releasing only ever lowers what is charged, so settled <= delivered, validated, unreleased.
 */
export function chargesToRelease(input: ReleaseInput): Release[] {
  const dead = new Set(
    [...input.downSince.entries()]
      .filter(([, since]) => since !== null && input.now - since >= input.releaseAfterMs)
      .map(([url]) => url),
  );
  const out: Release[] = [];
  const kept = new Map<string, PendingCharge[]>();
  for (const c of input.charges) {
    const session = input.sessions.get(c.sessionId);
    if (session?.closed) {
      out.push({ charge: c, reason: "session_closed", detail: "the session is closed on chain" });
      continue;
    }
    const signers = possibleSigners(c, input.validators, dead);
    if (signers.length < input.threshold) {
      out.push({
        charge: c,
        reason: "quorum_lost",
        detail: quorumDetail(c, input.validators, dead, input.threshold),
      });
      continue;
    }
    const list = kept.get(c.sessionId) ?? [];
    list.push(c);
    kept.set(c.sessionId, list);
  }
  const lost = new Set<string>(out.map((r) => r.charge.sessionId));
  for (const [sessionId, list] of kept) {
    const session = input.sessions.get(sessionId);
    const releasedAt = lost.has(sessionId) ? input.now : input.lastReleaseAt.get(sessionId);
    if (!session) continue;
    for (const c of uncovered(list, session.settled, session.amounts)) {
      if (input.now - Math.max(releasedAt ?? 0, c.addedAt) < input.releaseAfterMs) continue;
      out.push(
        releasedAt === undefined
          ? {
              charge: c,
              reason: "unacknowledged",
              detail:
                "the client signed no voucher that adds up to this charge: it did not acknowledge the result",
            }
          : {
              charge: c,
              reason: "voucher_gap",
              detail: "after an earlier release no voucher the client signed adds up to this charge",
            },
      );
    }
  }
  return out;
}

/** Validators that attested the receipt, did not refuse it and have not been gone too long. */
export function possibleSigners(
  c: PendingCharge,
  validators: readonly string[],
  dead: ReadonlySet<string>,
): string[] {
  return (c.attesters ?? validators).filter(
    (v) => validators.includes(v) && !c.refusedBy.includes(v) && !dead.has(v),
  );
}

/** Charges after the last point where the running total meets a signed voucher. */
export function uncovered(
  list: readonly PendingCharge[],
  settled: bigint,
  amounts: ReadonlySet<bigint>,
): PendingCharge[] {
  let sum = settled;
  let covered = 0;
  list.forEach((c, i) => {
    sum += BigInt(c.price);
    if (amounts.has(sum)) covered = i + 1;
  });
  return list.slice(covered);
}

function quorumDetail(
  c: PendingCharge,
  validators: readonly string[],
  dead: ReadonlySet<string>,
  threshold: number,
): string {
  const attesters = c.attesters ?? validators;
  const refused = attesters.filter((v) => c.refusedBy.includes(v));
  const gone = attesters.filter((v) => dead.has(v));
  const parts = [`attested by ${attesters.join(", ") || "no validator"}`];
  if (refused.length > 0) parts.push(`refused by ${refused.join(", ")}`);
  if (gone.length > 0) parts.push(`unreachable too long: ${gone.join(", ")}`);
  return `${parts.join("; ")}; ${threshold} signatures needed`;
}

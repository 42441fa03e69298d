import { type PendingCharge, planBatches, type SessionVouchers } from "./batch.ts";

/** Why a charge was released (the client is not charged for it). */
export type ReleaseReason =
  | "quorum_lost"
  | "no_common_quorum"
  | "voucher_gap"
  | "unacknowledged"
  | "session_closed";

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
 * - `no_common_quorum`: each charge has a quorum, but the client's vouchers add up only
 *   across charges that different quorums attested (a validator outage moved a session to
 *   another pair, and the attestations that would have bridged them were lost with a
 *   gateway), so no `threshold` validators can sign any run a voucher pays for. Counted
 *   from refusals only (every validator that neither refused nor stayed away too long is
 *   assumed able to sign), and once every charge of the first such run is
 *   `releaseAfterMs` old: that run is released, and the next one is judged on its own.
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
    const open = uncovered(list, session.settled, session.amounts);
    const covered = list.slice(0, list.length - open.length);
    if (!lost.has(sessionId) && covered.length > 0) {
      const run = unsignableRun(list, covered, session, input, dead);
      if (run.every((c) => input.now - Math.max(releasedAt ?? 0, c.addedAt) >= input.releaseAfterMs)) {
        const detail = commonQuorumDetail(run, input.threshold);
        for (const c of run) out.push({ charge: c, reason: "no_common_quorum", detail });
        if (run.length > 0) continue;
      }
    }
    for (const c of open) {
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

/**
 * The first run of `covered` (charges in order, from the settled amount up to the first
 * voucher) when no quorum of the validators still possible can sign any run of `list` a
 * voucher pays for, whoever is believed to have attested what; empty when some quorum can.
 */
function unsignableRun(
  list: readonly PendingCharge[],
  covered: readonly PendingCharge[],
  session: { settled: bigint; amounts: ReadonlySet<bigint> },
  input: ReleaseInput,
  dead: ReadonlySet<string>,
): PendingCharge[] {
  const sessionId = (covered[0] as PendingCharge).sessionId;
  const vouchers: SessionVouchers = {
    settled: session.settled,
    // Only the amounts matter to the plan; no batch is made from it.
    vouchers: [...session.amounts].map((amount) => ({ amount, signature: "0x" })),
  };
  const plans = planBatches(
    list.map((c) => ({ ...c, attesters: null })),
    new Map([[sessionId, vouchers]]),
    {
      available: input.validators.filter((v) => !dead.has(v)),
      threshold: input.threshold,
      maxReceipts: list.length,
      maxBatches: 1,
    },
  );
  if (plans.length > 0) return [];
  let sum = session.settled;
  for (const [i, c] of covered.entries()) {
    sum += BigInt(c.price);
    if (session.amounts.has(sum)) return covered.slice(0, i + 1);
  }
  return [];
}

function commonQuorumDetail(run: readonly PendingCharge[], threshold: number): string {
  const refusals = new Map<string, number>();
  for (const c of run) for (const v of c.refusedBy) refusals.set(v, (refusals.get(v) ?? 0) + 1);
  const named = [...refusals.entries()].map(([v, n]) => `${v} refused ${n}`).join(", ");
  return `no ${threshold} validators can sign all ${run.length} charges the client's voucher pays for together${
    named ? ` (${named})` : ""
  }`;
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

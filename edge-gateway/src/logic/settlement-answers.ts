/** One validator's answer to a settlement batch. */
export type SettlementAnswer =
  | { url: string; kind: "signed"; validator: `0x${string}`; signature: `0x${string}` }
  | {
      url: string;
      kind: "refused";
      code: string;
      /** The failed check (`details.reason` of a typed refusal), when given. */
      reason: string | undefined;
      /** The request field the refusal is about (`receiptDigests[3]`, `sessions[0].voucherAmount`). */
      field: string | undefined;
      /** Every receipt (by index in the batch) the validator says it did not attest, when it names them all. */
      unattested?: readonly number[];
      message: string;
    }
  | { url: string; kind: "unavailable"; message: string };

export interface BatchSignature {
  url: string;
  validator: `0x${string}`;
  signature: `0x${string}`;
}

/** What the answers say about a batch, and what to do with it next. */
export interface BatchVerdict {
  /** Distinct validators' signatures so far, ordered by validator (the contract counts distinct signers). */
  signatures: BatchSignature[];
  /** Receipts (by index in the batch) a validator will not sign: it did not attest them. */
  missing: { url: string; index: number }[];
  /** Sessions (by index in the batch) a validator refused, with why. */
  sessions: { url: string; index: number; reason: string; voucher: boolean }[];
  /** Refusals that named neither a receipt nor a session: the batch as a whole was refused. */
  whole: { url: string; reason: string }[];
  /**
   * `settle`: enough signatures. `retry`: the batch as it is may still get them (validators that
   * were unreachable or refused for a passing reason). `abandon`: it never will; its charges must
   * be planned again without what was refused (after the batch is abandoned on chain).
   */
  next: "settle" | "retry" | "abandon";
}

/**
 * Codes that say the validator could not decide now, not that it refused the batch: asking
 * again later may succeed. So do refusals whose reason says a receipt is claimed by another
 * batch still alive (it is released once that batch is seen abandoned on chain).
 */
const PASSING_CODES = new Set([
  "VALIDATOR_UNAVAILABLE",
  "UNAVAILABLE",
  "INTERNAL",
  "CHAIN_ERROR",
  "RATE_LIMITED",
  "DEADLINE_EXCEEDED",
  "UNAUTHORIZED",
]);

export function isPassing(a: SettlementAnswer): boolean {
  if (a.kind === "unavailable") return true;
  if (a.kind !== "refused") return false;
  if (PASSING_CODES.has(a.code)) return true;
  // Refusing the caller (its token, its address) says nothing about the batch: splitting or
  // abandoning it would not help; the gateway's configuration must change.
  if (a.code === "FORBIDDEN" && !(a.field ?? "").startsWith("sessions[")) return true;
  const reason = a.reason ?? "";
  return reason.includes("claimed") || reason === "batch_already_settled";
}

/**
 * Judges a batch from the answers of one round and the signatures kept from earlier rounds.
 * `validators` are all configured validators: one that refused for good, or that gave no
 * answer and is not believed up, cannot be counted on.
 */
export function judgeAnswers(
  answers: readonly SettlementAnswer[],
  earlier: readonly BatchSignature[],
  opts: { threshold: number; validators: readonly string[]; available: ReadonlySet<string> },
): BatchVerdict {
  const byValidator = new Map<string, BatchSignature>();
  for (const s of earlier) byValidator.set(s.validator.toLowerCase(), s);
  const missing: BatchVerdict["missing"] = [];
  const sessions: BatchVerdict["sessions"] = [];
  const whole: BatchVerdict["whole"] = [];
  const hopeful = new Set<string>();
  const answered = new Set<string>();
  for (const a of answers) {
    answered.add(a.url);
    if (a.kind === "signed") {
      byValidator.set(a.validator.toLowerCase(), {
        url: a.url,
        validator: a.validator.toLowerCase() as `0x${string}`,
        signature: a.signature,
      });
      continue;
    }
    if (isPassing(a)) {
      if (a.kind === "refused") hopeful.add(a.url);
      continue;
    }
    if (a.kind !== "refused") continue;
    const reason = a.reason ?? a.code;
    const receipt = /^receiptDigests\[(\d+)\]$/.exec(a.field ?? "");
    const session = /^sessions\[(\d+)\](?:\.(\w+))?$/.exec(a.field ?? "");
    if (receipt) {
      const named = new Set([Number(receipt[1]), ...(a.unattested ?? [])]);
      for (const index of named) missing.push({ url: a.url, index });
    } else if (session)
      sessions.push({
        url: a.url,
        index: Number(session[1]),
        reason,
        voucher: (session[2] ?? "").startsWith("voucher"),
      });
    else whole.push({ url: a.url, reason });
  }
  const signatures = [...byValidator.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => s);
  if (signatures.length >= opts.threshold) {
    // All of them: extra signatures cost a little gas and cover a chain that asks for more.
    return { signatures, missing, sessions, whole, next: "settle" };
  }
  // Who may still sign this very batch: validators that answered but could not decide yet,
  // and those not asked this round that are believed up. An unreachable validator does not
  // count: the batch is planned again around it rather than holding its sessions meanwhile.
  const signed = new Set(signatures.map((s) => s.url));
  const unasked = opts.validators.filter((v) => !answered.has(v) && !signed.has(v) && opts.available.has(v));
  const reachable = signatures.length + [...hopeful].filter((v) => !signed.has(v)).length + unasked.length;
  return { signatures, missing, sessions, whole, next: reachable >= opts.threshold ? "retry" : "abandon" };
}

import * as v from "valibot";
import { ProtocolError } from "./errors.ts";
import { canonicalJson } from "./hashing.ts";
import { issuesOf } from "./parse.ts";
import { Address, RequestId, Signature, TimestampMs } from "./primitives.ts";
import { type RecoverTextSigner, recoverTextSigner } from "./text-signer.ts";

/**
 * What can happen to an agent that moves its reputation. `spot_check_failed` (a validator
 * re-ran the model and the outputs differed) and `slash` (another provable offence) are
 * slashing offences, only accepted from validators.
 */
export const REPUTATION_EVENT_KINDS = [
  "success",
  "failure",
  "timeout",
  "spot_check_failed",
  "slash",
] as const;
export const ReputationEventKind = v.picklist(REPUTATION_EVENT_KINDS);
export type ReputationEventKind = v.InferOutput<typeof ReputationEventKind>;

/** Points each event adds to an agent's score. */
export const REPUTATION_POINTS: Record<ReputationEventKind, number> = {
  success: 1,
  failure: -2,
  timeout: -5,
  spot_check_failed: -20,
  slash: -20,
};

export const ReputationEvent = v.object({
  /** Unique per event (e.g. `<requestId>:<kind>`): a registry counts each id once. */
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_:.-]{1,160}$/, "event ids are 1-160 chars of [A-Za-z0-9_:.-]")),
  agent: Address,
  kind: ReputationEventKind,
  requestId: v.optional(RequestId),
  /** Request latency seen by the reporter (success only). */
  latencyMs: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(3_600_000))),
  /** Why (e.g. which check failed). */
  reason: v.optional(v.pipe(v.string(), v.maxLength(200))),
  at: TimestampMs,
});
export type ReputationEvent = v.InferOutput<typeof ReputationEvent>;

/** A batch of events signed (EIP-191) by a gateway or a validator. */
export const ReputationReport = v.object({
  reporter: Address,
  at: TimestampMs,
  events: v.pipe(v.array(ReputationEvent), v.minLength(1), v.maxLength(256)),
  signature: Signature,
});
export type ReputationReport = v.InferOutput<typeof ReputationReport>;
export type UnsignedReputationReport = Omit<ReputationReport, "signature">;

export function reputationReportSigningText(r: UnsignedReputationReport | ReputationReport): string {
  return `NCN reputation report\n${canonicalJson({ reporter: r.reporter, at: r.at, events: r.events })}`;
}

/** Parses a report and checks that `reporter` signed it. Who may report is the caller's policy. */
export async function verifyReputationReport(
  input: unknown,
  recover: RecoverTextSigner = recoverTextSigner,
): Promise<ReputationReport> {
  const parsed = v.safeParse(ReputationReport, input);
  if (!parsed.success) {
    const issues = issuesOf(parsed.issues);
    throw new ProtocolError(
      "INVALID_INPUT",
      `invalid reputation report: ${issues[0]?.path}: ${issues[0]?.message}`,
      {
        details: { issues },
      },
    );
  }
  const report = parsed.output;
  let signer: string;
  try {
    signer = await recover(reputationReportSigningText(report), report.signature);
  } catch (e) {
    throw new ProtocolError("SIGNATURE_INVALID", "report signature cannot be recovered", { cause: e });
  }
  if (signer.toLowerCase() !== report.reporter) {
    throw new ProtocolError("SIGNATURE_INVALID", "report is not signed by its reporter");
  }
  return report;
}

import { BaseError } from "@ncn/protocol";

/** One look at a validator: did it answer, and as whom. */
export interface ValidatorProbe {
  url: string;
  up: boolean;
  /** The validator's address, when it said. */
  validator: string | null;
  /** Why it did not answer. */
  error: string | null;
  at: number;
}

export interface QuorumView {
  ok: boolean;
  threshold: number;
  answering: string[];
  missing: { url: string; validator: string | null; error: string | null }[];
  at: number;
}

/** Whether enough validators answer to attest work: fewer than `threshold` means none would be validated. */
export function quorumOf(probes: readonly ValidatorProbe[], threshold: number): QuorumView {
  const answering = probes.filter((p) => p.up).map((p) => p.url);
  return {
    ok: answering.length >= threshold,
    threshold,
    answering,
    missing: probes.filter((p) => !p.up).map((p) => ({ url: p.url, validator: p.validator, error: p.error })),
    at: probes.reduce((t, p) => Math.min(t, p.at), Number.POSITIVE_INFINITY),
  };
}

/**
 * The error new work gets while the quorum is lost: it would be computed and then refused,
 * so it is not dispatched at all. Nothing was charged; it names who is missing.
 */
export function quorumLostError(view: QuorumView): BaseError<"UNAVAILABLE"> {
  const names = view.missing.map((m) => m.url).join(", ");
  return new BaseError(
    "UNAVAILABLE",
    `only ${view.answering.length} of ${view.threshold} validators needed answer (missing: ${names}); nothing was charged, retry later`,
    {
      details: {
        charged: false,
        retryable: true,
        threshold: view.threshold,
        answering: view.answering,
        missing: view.missing,
      },
    },
  );
}

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

/**
 * Which validators a session's batches go to first: the same ones for every batch of the
 * session (while they answer), different ones for different sessions. Rotating per batch
 * spread one stream's load, but left consecutive batches attested by different pairs, with
 * the third validator told later (`unasked`): a gateway that died before telling it, or a
 * third validator that was down then, left runs of a session's charges that no single
 * quorum had attested, and a client voucher that spans them then settles nothing (found by
 * the chaos test: a validator kill then a gateway kill left 16 charges waiting for good).
 */
export function firstAsked(spreadKey: string, n: number): number {
  // FNV-1a: a stable, cheap spread of keys over validators.
  let h = 0x811c9dc5;
  for (let i = 0; i < spreadKey.length; i++) {
    h ^= spreadKey.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % n;
}

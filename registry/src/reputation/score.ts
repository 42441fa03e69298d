import { REPUTATION_POINTS, type ReputationEventKind } from "@ncn/protocol";
import { LATENCY_EWMA_ALPHA } from "../constants.ts";

/** An agent's standing as gateways schedule by it. */
export interface Reputation {
  agent: `0x${string}`;
  successes: number;
  failures: number;
  timeouts: number;
  failedSpotChecks: number;
  slashes: number;
  /** Exponentially weighted moving average of reported latencies (ms), null before the first. */
  latencyEwmaMs: number | null;
  /** Sum of points: +1 success, -2 failure, -5 timeout, -20 per slashing offence. */
  score: number;
  updatedAt: number;
}

export function emptyReputation(agent: `0x${string}`, now = 0): Reputation {
  return {
    agent,
    successes: 0,
    failures: 0,
    timeouts: 0,
    failedSpotChecks: 0,
    slashes: 0,
    latencyEwmaMs: null,
    score: 0,
    updatedAt: now,
  };
}

/** The reputation after one more event (pure). */
export function applyReputationEvent(
  r: Reputation,
  event: { kind: ReputationEventKind; latencyMs?: number | undefined; at: number },
): Reputation {
  const next = {
    ...r,
    score: r.score + REPUTATION_POINTS[event.kind],
    updatedAt: Math.max(r.updatedAt, event.at),
  };
  switch (event.kind) {
    case "success":
      next.successes++;
      break;
    case "failure":
      next.failures++;
      break;
    case "timeout":
      next.timeouts++;
      break;
    case "spot_check_failed":
      next.failedSpotChecks++;
      next.slashes++;
      break;
    case "slash":
      next.slashes++;
      break;
  }
  if (event.latencyMs !== undefined) {
    next.latencyEwmaMs =
      r.latencyEwmaMs === null
        ? event.latencyMs
        : LATENCY_EWMA_ALPHA * event.latencyMs + (1 - LATENCY_EWMA_ALPHA) * r.latencyEwmaMs;
  }
  return next;
}

/** Event kinds only a validator may report (they are slashing offences). */
export const VALIDATOR_ONLY_KINDS: ReadonlySet<ReputationEventKind> = new Set(["spot_check_failed", "slash"]);

import { DEFAULT_MIN_REPUTATION } from "@ncn/protocol";
import * as v from "valibot";

/** A registry node's live agents of one subnet (`GET /v1/agents?subnet=`), as far as admission reads it. */
export const AgentListing = v.object({
  agents: v.array(
    v.object({
      address: v.pipe(v.string(), v.regex(/^0x[0-9a-fA-F]{40}$/)),
      aliveUntil: v.number(),
      reputation: v.object({ score: v.number() }),
    }),
  ),
});
export type AgentListing = v.InferOutput<typeof AgentListing>;

/** Longest an admission holds without a fresh listing confirming it. */
export const ADMISSION_TTL_MS = 60_000;

/**
 * Which agents may take work in a subnet, and until when: those the registry lists as alive
 * in the subnet with a score at or above the subnet's minimum. Holding a key and opening a
 * socket is not enough: an agent the validators do not know would take tasks, see their
 * inputs and have every result refused.
 */
export function admittedAgents(
  listing: AgentListing,
  minReputation: number | undefined,
  now: number,
): Map<string, number> {
  const min = minReputation ?? DEFAULT_MIN_REPUTATION;
  const admitted = new Map<string, number>();
  for (const a of listing.agents) {
    if (a.aliveUntil <= now || a.reputation.score < min) continue;
    admitted.set(a.address.toLowerCase(), Math.min(a.aliveUntil, now + ADMISSION_TTL_MS));
  }
  return admitted;
}

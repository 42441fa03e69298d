/** What a chaos run kills. anvil stays up: the chain is the ledger everything is checked against. */
export type KillKind = "agent" | "validator" | "gateway";

export interface PlannedKill {
  kind: KillKind;
  /** Agent or validator index (0 for the gateway). */
  target: number;
  /** The kill happens once this many requests were sent. */
  afterRequests: number;
  /** How long the target stays down before it is started again. */
  downMs: number;
}

export interface ChaosPlanOptions {
  seed: number;
  requests: number;
  kills: number;
  agents: number;
  validators: number;
  /** Shortest and longest time a target stays down (default 300 to 2,500 ms). */
  downMs?: readonly [number, number];
}

/**
 * A seeded PRNG (mulberry32): the same seed gives the same kills at the same points of the
 * load, so a failing run can be replayed with `--seed`.
 */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * The kills of a run: each kind once per round of three (in a random order), each at a random
 * point of its own slice of the middle 80% of the load, so kills spread over the whole run
 * and the load runs before the first and after the last.
 */
export function planKills(opts: ChaosPlanOptions): PlannedKill[] {
  const random = prng(opts.seed);
  const [minDown, maxDown] = opts.downMs ?? [300, 2_500];
  const kinds: KillKind[] = [];
  while (kinds.length < opts.kills) {
    const round: KillKind[] = ["agent", "validator", "gateway"];
    for (let i = round.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [round[i], round[j]] = [round[j] as KillKind, round[i] as KillKind];
    }
    kinds.push(...round);
  }
  return kinds.slice(0, opts.kills).map((kind, k) => {
    const slice = (0.8 * opts.requests) / opts.kills;
    const afterRequests = Math.floor(0.1 * opts.requests + slice * (k + random()));
    const count = kind === "agent" ? opts.agents : kind === "validator" ? opts.validators : 1;
    return {
      kind,
      target: Math.floor(random() * count),
      afterRequests,
      downMs: Math.round(minDown + random() * (maxDown - minDown)),
    };
  });
}

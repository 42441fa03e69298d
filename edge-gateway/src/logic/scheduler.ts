/** What the scheduler knows of a connected agent. */
export interface AgentView {
  address: string;
  runtimes: readonly string[];
  cachedModels: readonly string[];
  maxConcurrency: number;
  /** Tasks reserved on this agent and not yet finished. */
  running: number;
  /** Registry reputation points (higher is better); 0 when unknown. */
  reputation: number;
  /** Exponentially weighted task latency in ms; undefined before the first task. */
  latencyMs: number | undefined;
}

export interface TaskNeeds {
  runtime: string;
  /** sha256 of the model (or of every stage model): agents with it cached are preferred. */
  modelHashes: readonly string[];
  /** Agents already tried for this request. */
  exclude: ReadonlySet<string>;
}

/**
 * Picks the agent for a task: capable (runtime, free slot, not excluded), then the
 * least loaded, then the best by reputation, cache warmth and latency. Pure: the
 * Subnet object calls it with its current view.
 */
export function pickAgent(agents: Iterable<AgentView>, needs: TaskNeeds): AgentView | undefined {
  let best: AgentView | undefined;
  let bestScore = Number.POSITIVE_INFINITY;
  for (const a of agents) {
    if (needs.exclude.has(a.address)) continue;
    if (!a.runtimes.includes(needs.runtime)) continue;
    if (a.running >= a.maxConcurrency) continue;
    const score = agentScore(a, needs);
    if (score < bestScore) {
      best = a;
      bestScore = score;
    }
  }
  return best;
}

/** Lower is better. Load dominates; reputation, cache and latency break ties. */
export function agentScore(a: AgentView, needs: Pick<TaskNeeds, "modelHashes">): number {
  const load = a.running / a.maxConcurrency;
  const cached = needs.modelHashes.every((h) => a.cachedModels.includes(h)) ? 0 : 1;
  const rep = Math.max(-100, Math.min(100, a.reputation));
  const latency = a.latencyMs ?? 50;
  return load * 1000 + cached * 20 - rep * 0.5 + Math.min(latency, 10_000) / 100;
}

/** Exponentially weighted moving average with weight `alpha` on the new sample. */
export function ewma(prev: number | undefined, sample: number, alpha = 0.2): number {
  return prev === undefined ? sample : prev + alpha * (sample - prev);
}

/** Shard that holds an agent's socket: FNV-1a of its address modulo the shard count. */
export function shardOf(address: string, shards: number): number {
  let h = 0x811c9dc5;
  const s = address.toLowerCase();
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h % Math.max(1, shards);
}

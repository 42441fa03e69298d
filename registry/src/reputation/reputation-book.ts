import type { Database } from "bun:sqlite";
import type { ReputationEvent } from "@ncn/protocol";
import { pruneTable } from "../store/prune-table.ts";
import { applyReputationEvent, emptyReputation, type Reputation } from "./score.ts";

interface Row {
  agent: string;
  successes: number;
  failures: number;
  timeouts: number;
  failed_spot_checks: number;
  slashes: number;
  latency_ewma: number | null;
  score: number;
  updated_at: number;
}

function fromRow(row: Row): Reputation {
  return {
    agent: row.agent as `0x${string}`,
    successes: row.successes,
    failures: row.failures,
    timeouts: row.timeouts,
    failedSpotChecks: row.failed_spot_checks,
    slashes: row.slashes,
    latencyEwmaMs: row.latency_ewma,
    score: row.score,
    updatedAt: row.updated_at,
  };
}

/** Per-agent reputation in SQLite; each event id counts once, whoever relays it. */
export class ReputationBook {
  private readonly db: Database;
  constructor(db: Database) {
    this.db = db;
  }

  get(agent: string): Reputation {
    const row = this.db
      .query<Row, [string]>("SELECT * FROM reputation WHERE agent = ?1")
      .get(agent.toLowerCase());
    return row ? fromRow(row) : emptyReputation(agent.toLowerCase() as `0x${string}`);
  }

  all(): Reputation[] {
    return this.db.query<Row, []>("SELECT * FROM reputation ORDER BY score DESC, agent").all().map(fromRow);
  }

  has(eventId: string): boolean {
    return this.db.query("SELECT 1 FROM reputation_events WHERE id = ?1").get(eventId) !== null;
  }

  /**
   * Applies an event unless its id was seen; returns the new reputation, or null if a duplicate.
   * Atomic on its own; inside a caller's transaction it joins that one (a batch of events
   * commits once).
   */
  apply(event: ReputationEvent, reporter: string, now = Date.now()): Reputation | null {
    const run = (): Reputation | null => {
      const inserted = this.db
        .query(
          "INSERT OR IGNORE INTO reputation_events (id, agent, kind, reporter, at, received_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .run(event.id, event.agent, event.kind, reporter.toLowerCase(), event.at, now);
      if (inserted.changes === 0) return null;
      const next = applyReputationEvent(this.get(event.agent), event);
      this.#save(next);
      return next;
    };
    return this.#atomic(run);
  }

  /**
   * Applies events the caller counts once itself (this node's own successes, one per stored
   * receipt): no event ids are kept, and each agent's row is written once.
   */
  applyLocal(events: readonly ReputationEvent[]): void {
    const run = () => {
      const next = new Map<string, Reputation>();
      for (const e of events) {
        const agent = e.agent.toLowerCase();
        next.set(agent, applyReputationEvent(next.get(agent) ?? this.get(agent), e));
      }
      for (const r of next.values()) this.#save(r);
    };
    this.#atomic(run);
  }

  /** Runs `run` as one transaction, or inside the caller's when one is open (it commits once). */
  #atomic<T>(run: () => T): T {
    return this.db.inTransaction ? run() : this.db.transaction(run)();
  }

  #save(next: Reputation): void {
    this.db
      .query(
        `INSERT INTO reputation (agent, successes, failures, timeouts, failed_spot_checks, slashes, latency_ewma, score, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(agent) DO UPDATE SET successes = ?2, failures = ?3, timeouts = ?4, failed_spot_checks = ?5,
           slashes = ?6, latency_ewma = ?7, score = ?8, updated_at = ?9`,
      )
      .run(
        next.agent,
        next.successes,
        next.failures,
        next.timeouts,
        next.failedSpotChecks,
        next.slashes,
        next.latencyEwmaMs,
        next.score,
        next.updatedAt,
      );
  }

  /**
   * Forgets event ids received before `before`, then the oldest past `maxRows`. An id is kept
   * only against replays of the report that carried it, and a report older than
   * `REPORT_MAX_AGE_MS` is refused anyway; the reputation the events built stays.
   */
  pruneEvents(before: number, maxRows: number): number {
    return pruneTable(this.db, "reputation_events", before, maxRows);
  }
}

import type { Database } from "bun:sqlite";
import type { AttestationSig } from "@ncn/protocol";
import { pruneTable } from "./prune-table.ts";

interface Row {
  validator: string;
  phase: number;
  subject: string;
  output_hash: string;
  signature: string;
}

/** How stale `count()` may be. */
const COUNT_EVERY_MS = 5_000;

/** Attestations this node signed or collected, by request (bytes32 request id or batch id). */
export class AttestationStore {
  private readonly db: Database;
  private counted: { n: number; at: number } | undefined;
  constructor(db: Database) {
    this.db = db;
  }

  /** Stores an attestation; returns false when this validator's one for the request/phase was known. */
  save(requestId: string, a: AttestationSig, now = Date.now()): boolean {
    const r = this.db.run(
      `INSERT OR IGNORE INTO attestations (request_id, phase, validator, subject, output_hash, signature, created_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)`,
      [requestId.toLowerCase(), a.phase, a.validator, a.subject, a.outputHash, a.signature, now],
    );
    return r.changes > 0;
  }

  list(requestId: string, phase?: 0 | 1): AttestationSig[] {
    const rows =
      phase === undefined
        ? this.db
            .query<Row, [string]>("SELECT * FROM attestations WHERE request_id = ?1 ORDER BY created_at")
            .all(requestId.toLowerCase())
        : this.db
            .query<Row, [string, number]>(
              "SELECT * FROM attestations WHERE request_id = ?1 AND phase = ?2 ORDER BY created_at",
            )
            .all(requestId.toLowerCase(), phase);
    return rows.map((r) => ({
      validator: r.validator,
      phase: r.phase === 0 ? 0 : 1,
      subject: r.subject,
      outputHash: r.output_hash,
      signature: r.signature,
    })) as AttestationSig[];
  }

  count(): number {
    return this.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM attestations").get()?.n ?? 0;
  }

  /**
   * `count()`, counted at most once per COUNT_EVERY_MS: `/health` shows it, health is polled
   * often, and counting reads the whole table.
   */
  recentCount(now = Date.now()): number {
    if (this.counted === undefined || now - this.counted.at >= COUNT_EVERY_MS) {
      this.counted = { n: this.count(), at: now };
    }
    return this.counted.n;
  }

  /**
   * Forgets attestations stored before `before`, then the oldest past `maxRows`: gossip from
   * any validator lands here, and a gateway collects a request's attestations within minutes.
   */
  prune(before: number, maxRows: number): number {
    return pruneTable(this.db, "attestations", before, maxRows);
  }
}

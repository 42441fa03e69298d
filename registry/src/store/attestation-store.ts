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

/** Attestations this node signed or collected, by request (bytes32 request id or batch id). */
export class AttestationStore {
  private readonly db: Database;
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
    return (this.db.query<{ n: number }, []>("SELECT COUNT(*) AS n FROM attestations").get()?.n ??
      0) as number;
  }

  /**
   * Forgets attestations stored before `before`, then the oldest past `maxRows`: gossip from
   * any validator lands here, and a gateway collects a request's attestations within minutes.
   */
  prune(before: number, maxRows: number): number {
    return pruneTable(this.db, "attestations", before, maxRows);
  }
}

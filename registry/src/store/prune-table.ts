import type { Database } from "bun:sqlite";

/** The tables `pruneTable` may prune, each with the column holding its rows' time. */
const PRUNABLE = {
  attestations: "created_at",
  preattested: "created_at",
  reputation_events: "received_at",
} as const;
export type PrunableTable = keyof typeof PRUNABLE;

/**
 * Deletes the rows of `table` older than `before` (by its time column), then the oldest
 * ones past `maxRows`, so the table stays within its cap whatever arrives between two
 * prunes. Returns how many rows went.
 *
 * @example pruneTable(db, "attestations", Date.now() - ATTESTATION_KEEP_MS, MAX_ATTESTATIONS)
 */
export function pruneTable(db: Database, table: PrunableTable, before: number, maxRows: number): number {
  const column = PRUNABLE[table];
  return db.transaction(() => {
    let removed = db.query(`DELETE FROM ${table} WHERE ${column} < ?1`).run(before).changes;
    const rows = db.query<{ n: number }, []>(`SELECT COUNT(*) AS n FROM ${table}`).get()?.n ?? 0;
    if (rows > maxRows) {
      removed += db
        .query(
          `DELETE FROM ${table} WHERE rowid IN (SELECT rowid FROM ${table} ORDER BY ${column} ASC, rowid ASC LIMIT ?1)`,
        )
        .run(rows - maxRows).changes;
    }
    return removed;
  })();
}

import { Database } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";

/** Schema migrations, applied in order; the index + 1 is the schema version they lead to. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE records (
     kind TEXT NOT NULL,
     key TEXT NOT NULL,
     seq INTEGER NOT NULL,
     owner TEXT NOT NULL,
     expires_at INTEGER,
     raw TEXT NOT NULL,
     own INTEGER NOT NULL DEFAULT 0,
     received_at INTEGER NOT NULL,
     PRIMARY KEY (kind, key)
   );
   CREATE TABLE agent_liveness (
     agent TEXT PRIMARY KEY,
     last_heartbeat INTEGER NOT NULL,
     load TEXT NOT NULL
   );
   CREATE TABLE reputation (
     agent TEXT PRIMARY KEY,
     successes INTEGER NOT NULL DEFAULT 0,
     failures INTEGER NOT NULL DEFAULT 0,
     timeouts INTEGER NOT NULL DEFAULT 0,
     failed_spot_checks INTEGER NOT NULL DEFAULT 0,
     slashes INTEGER NOT NULL DEFAULT 0,
     latency_ewma REAL,
     score INTEGER NOT NULL DEFAULT 0,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE reputation_events (
     id TEXT PRIMARY KEY,
     agent TEXT NOT NULL,
     kind TEXT NOT NULL,
     reporter TEXT NOT NULL,
     at INTEGER NOT NULL
   );
   CREATE TABLE attestations (
     request_id TEXT NOT NULL,
     phase INTEGER NOT NULL,
     validator TEXT NOT NULL,
     subject TEXT NOT NULL,
     output_hash TEXT NOT NULL,
     signature TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (request_id, phase, validator)
   );`,
  // 2: receipts this node attested, so that it signs settlements only over those.
  `CREATE TABLE attested_receipts (
     digest TEXT PRIMARY KEY,
     request_id TEXT NOT NULL,
     agent TEXT NOT NULL,
     price TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );`,
  // 3: what this validator checked, so that it attests only that: the terms each request was
  // pre-attested with (per agent: a request retried on another agent is pre-attested again),
  // one completion per request id (the attested receipt: by itself with its attestation, or
  // under a batch root), the session each receipt was charged to, and the settlement batch
  // that claimed it. Receipts attested twice for one request id before this rule existed
  // keep the first.
  `CREATE TABLE preattested (
     request_id TEXT NOT NULL,
     agent TEXT NOT NULL,
     subnet TEXT NOT NULL,
     model TEXT NOT NULL,
     price TEXT NOT NULL,
     session_id TEXT,
     deadline INTEGER NOT NULL,
     gateway TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (request_id, agent)
   );
   CREATE INDEX preattested_deadline ON preattested (deadline);
   DELETE FROM attested_receipts
     WHERE rowid NOT IN (SELECT MIN(rowid) FROM attested_receipts GROUP BY request_id);
   ALTER TABLE attested_receipts ADD COLUMN session_id TEXT;
   ALTER TABLE attested_receipts ADD COLUMN receipts_root TEXT;
   ALTER TABLE attested_receipts ADD COLUMN attestation TEXT;
   ALTER TABLE attested_receipts ADD COLUMN claim_gateway TEXT;
   ALTER TABLE attested_receipts ADD COLUMN claim_batch TEXT;
   ALTER TABLE attested_receipts ADD COLUMN settled INTEGER NOT NULL DEFAULT 0;
   CREATE UNIQUE INDEX attested_receipts_request ON attested_receipts (request_id);
   CREATE INDEX attested_receipts_claim ON attested_receipts (claim_gateway, claim_batch)
     WHERE claim_batch IS NOT NULL;
   CREATE TABLE batch_attestations (
     receipts_root TEXT PRIMARY KEY,
     attestation TEXT NOT NULL
   );
   CREATE TABLE settlement_batches (
     gateway TEXT NOT NULL,
     batch_id TEXT NOT NULL,
     content TEXT NOT NULL,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (gateway, batch_id)
   );`,
  // 4: stores an outsider can fill are pruned by age and capped, oldest first: indexes on the
  // time each is pruned by. A reputation event is remembered (against replays of its report)
  // from when it arrived, not from the time its reporter wrote in it.
  `CREATE INDEX attestations_created ON attestations (created_at);
   CREATE INDEX preattested_created ON preattested (created_at);
   ALTER TABLE reputation_events ADD COLUMN received_at INTEGER NOT NULL DEFAULT 0;
   CREATE INDEX reputation_events_received ON reputation_events (received_at);`,
];

export const SCHEMA_VERSION = MIGRATIONS.length;

/**
 * Opens (creating if needed) the node's SQLite database and brings its schema to
 * `SCHEMA_VERSION`, recorded in the `meta` table's `schema_version` row.
 *
 * @example const db = openDatabase(join(dataDir, "registry.sqlite"))
 */
export function openDatabase(path: string): Database {
  if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
  const db = new Database(path, { create: true, strict: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA synchronous = NORMAL");
  db.run("PRAGMA busy_timeout = 5000");
  db.run("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
  const row = db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'schema_version'").get();
  const current = row ? Number(row.value) : 0;
  if (current > SCHEMA_VERSION) {
    db.close();
    throw new Error(`database schema ${current} is newer than this node's ${SCHEMA_VERSION}`);
  }
  for (let version = current; version < SCHEMA_VERSION; version++) {
    const sql = MIGRATIONS[version];
    if (sql === undefined) break;
    db.transaction(() => {
      db.run(sql);
      db.run(
        "INSERT INTO meta (key, value) VALUES ('schema_version', ?1) ON CONFLICT(key) DO UPDATE SET value = ?1",
        [String(version + 1)],
      );
    })();
  }
  return db;
}

export function schemaVersionOf(db: Database): number {
  const row = db.query<{ value: string }, []>("SELECT value FROM meta WHERE key = 'schema_version'").get();
  return row ? Number(row.value) : 0;
}

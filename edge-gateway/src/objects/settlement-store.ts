import * as v from "valibot";
import { toHex } from "viem";
import type { PendingCharge } from "../logic/batch.ts";
import type { BatchSignature } from "../logic/settlement-answers.ts";
import { parseSettlementProblem, type SettlementProblem } from "../logic/settlement-problem.ts";
import type { Release } from "../logic/settlement-release.ts";

/** A charge as the Session object hands it over. */
export interface ChargeEntry {
  requestId: string;
  sessionId: `0x${string}`;
  agent: `0x${string}`;
  price: string;
  receiptDigest: `0x${string}`;
  /** Validators (URLs) that attested the receipt; absent when not recorded. */
  attesters?: string[] | undefined;
}

/** A batch's lifecycle: persisted before any validator sees it, finished by what the chain says. */
export type BatchState = "signing" | "signed" | "abandoning" | "settled" | "abandoned";

/** Everything needed to send a batch again exactly as it was first sent. */
export interface BatchBody {
  receiptsRoot: `0x${string}`;
  receiptDigests: `0x${string}`[];
  sessions: { sessionId: `0x${string}`; voucherAmount: string; voucherSignature: `0x${string}` }[];
  payouts: { node: `0x${string}`; amount: string }[];
  /** Per session, the salt it was opened with (the contract needs it). */
  salts: Record<string, `0x${string}`>;
}

export interface StoredBatch {
  batchId: `0x${string}`;
  state: BatchState;
  createdAt: number;
  updatedAt: number;
  attempts: number;
  requests: number;
  total: string;
  body: BatchBody;
  signatures: BatchSignature[];
  tx: string | null;
  error: SettlementProblem | null;
}

/** A validator's last refusal: its code and plain-token reason and field, never its text. */
export interface ValidatorRefusal {
  code: string;
  reason: string | null;
  field: string | null;
  batchId: string;
  at: number;
}

export interface ValidatorRow {
  url: string;
  validator: string | null;
  up: boolean | null;
  downSince: number | null;
  checkedAt: number | null;
  error: string | null;
  refusal: ValidatorRefusal | null;
}

const SCHEMA_VERSION = 3;
/** How long a settled charge's id is remembered, so that a charge told again is not queued twice. */
const SETTLED_MEMORY_MS = 24 * 3600_000;
const OPEN_STATES = "('signing','signed','abandoning')";

type Row = Record<string, SqlStorageValue>;

/**
 * The Settlement object's SQLite: charges waiting (with who attested each receipt, as a
 * bit set over validator numbers), batches with their members and state, released charges,
 * and what each validator last did. Schema versioned with a row in `meta`.
 */
export class SettlementStore {
  readonly #sql: SqlStorage;
  readonly #transact: <T>(fn: () => T) => T;
  readonly #validatorIds = new Map<string, number>();

  constructor(sql: SqlStorage, transact: <T>(fn: () => T) => T) {
    this.#sql = sql;
    this.#transact = transact;
    this.#migrate();
    for (const r of this.#sql.exec<{ idx: number; url: string }>(`SELECT idx, url FROM validators`)) {
      this.#validatorIds.set(r.url, r.idx);
    }
  }

  #migrate(): void {
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v INTEGER NOT NULL)`);
    const version =
      this.#sql.exec<{ v: number }>(`SELECT v FROM meta WHERE k = 'schema'`).toArray()[0]?.v ?? 0;
    if (version >= SCHEMA_VERSION) return;
    this.#transact(() => {
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS counter (k TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS charges (
        request_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, agent TEXT NOT NULL, price TEXT NOT NULL,
        digest TEXT NOT NULL, added_at INTEGER NOT NULL, attesters INTEGER, refused INTEGER NOT NULL DEFAULT 0,
        strikes INTEGER NOT NULL DEFAULT 0, batch_id TEXT)`);
      this.#sql.exec(`CREATE INDEX IF NOT EXISTS charges_batch ON charges (batch_id)`);
      this.#sql.exec(`CREATE INDEX IF NOT EXISTS charges_digest ON charges (digest)`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS settle_batches (
        batch_id TEXT PRIMARY KEY, state TEXT NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, requests INTEGER NOT NULL, total TEXT NOT NULL, body TEXT,
        signatures TEXT NOT NULL DEFAULT '[]', tx TEXT, error TEXT)`);
      this.#sql.exec(`CREATE INDEX IF NOT EXISTS settle_batches_state ON settle_batches (state)`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS released (
        request_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, price TEXT NOT NULL, digest TEXT NOT NULL,
        reason TEXT NOT NULL, detail TEXT NOT NULL, at INTEGER NOT NULL, notified INTEGER NOT NULL DEFAULT 0)`);
      // Version 3: ids of settled charges, so that a charge told again (a Session object that
      // crashed between its charge and hearing the queue's answer) is not settled twice.
      this.#sql.exec(
        `CREATE TABLE IF NOT EXISTS settled_charges (request_id TEXT PRIMARY KEY, at INTEGER NOT NULL)`,
      );
      this.#sql.exec(`CREATE INDEX IF NOT EXISTS settled_charges_at ON settled_charges (at)`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS late_attesters (
        request_id TEXT PRIMARY KEY, attesters INTEGER NOT NULL, at INTEGER NOT NULL)`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS bad_vouchers (
        session_id TEXT NOT NULL, amount TEXT NOT NULL, reason TEXT NOT NULL, PRIMARY KEY (session_id, amount))`);
      this.#sql.exec(`CREATE TABLE IF NOT EXISTS validators (
        idx INTEGER PRIMARY KEY, url TEXT UNIQUE NOT NULL, address TEXT, up INTEGER, down_since INTEGER,
        checked_at INTEGER, error TEXT, refusal TEXT)`);
      // Version 1 kept waiting charges in `pending` and settled batches in `batches`.
      const old = this.#sql
        .exec<{ name: string }>(
          `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('pending', 'batches')`,
        )
        .toArray()
        .map((r) => r.name);
      if (old.includes("pending")) {
        this.#sql.exec(`INSERT OR IGNORE INTO charges (request_id, session_id, agent, price, digest, added_at)
          SELECT request_id, session_id, agent, price, digest, added_at FROM pending ORDER BY added_at, rowid`);
        this.#sql.exec(`DROP TABLE pending`);
      }
      if (old.includes("batches")) {
        this.#sql.exec(`INSERT OR IGNORE INTO settle_batches (batch_id, state, created_at, updated_at, requests, total, tx)
          SELECT batch_id, 'settled', at, at, requests, '0', tx FROM batches`);
        this.#sql.exec(`DROP TABLE batches`);
      }
      this.#sql.exec(`INSERT OR REPLACE INTO meta (k, v) VALUES ('schema', ?)`, SCHEMA_VERSION);
    });
  }

  // ---- validators as bits ---------------------------------------------------------------

  /** A stable small number per validator URL (bit sets survive a reordered configuration). */
  #idOf(url: string): number {
    let id = this.#validatorIds.get(url);
    if (id === undefined) {
      this.#sql.exec(`INSERT OR IGNORE INTO validators (url) VALUES (?)`, url);
      id = this.#sql.exec<{ idx: number }>(`SELECT idx FROM validators WHERE url = ?`, url).one().idx;
      if (id > 30) throw new Error("more than 30 validator URLs seen: bit sets would overflow");
      this.#validatorIds.set(url, id);
    }
    return id;
  }

  #maskOf(urls: readonly string[]): number {
    let mask = 0;
    for (const u of urls) mask |= 1 << this.#idOf(u);
    return mask;
  }

  #urlsOf(mask: number): string[] {
    const out: string[] = [];
    for (const [url, id] of this.#validatorIds) if (mask & (1 << id)) out.push(url);
    return out.sort();
  }

  // ---- charges ---------------------------------------------------------------------------

  /** Whether the charge of `requestId` was settled (in the last day) or released. */
  #settledOrReleased(requestId: string): boolean {
    return (
      this.#sql
        .exec(
          `SELECT 1 FROM settled_charges WHERE request_id = ? UNION ALL SELECT 1 FROM released WHERE request_id = ?`,
          requestId,
          requestId,
        )
        .toArray().length > 0
    );
  }

  addCharges(entries: readonly ChargeEntry[], now: number, again = false): void {
    this.#transact(() => {
      for (const e of entries) {
        // Told again after it settled or was released: it is not charged a second time.
        if (again && this.#settledOrReleased(e.requestId)) continue;
        const late = this.#sql
          .exec<{ attesters: number }>(
            `SELECT attesters FROM late_attesters WHERE request_id = ?`,
            e.requestId,
          )
          .toArray()[0]?.attesters;
        const known = e.attesters === undefined ? null : this.#maskOf(e.attesters);
        const attesters = known === null ? null : late === undefined ? known : known | late;
        this.#sql.exec(
          `INSERT OR IGNORE INTO charges (request_id, session_id, agent, price, digest, added_at, attesters)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          e.requestId,
          e.sessionId,
          e.agent,
          e.price,
          e.receiptDigest,
          now,
          attesters,
        );
        if (late !== undefined)
          this.#sql.exec(`DELETE FROM late_attesters WHERE request_id = ?`, e.requestId);
      }
    });
  }

  /** Validators that attested after the charge was recorded (or before it arrives: kept until it does). */
  addAttesters(entries: readonly { requestId: string; urls: readonly string[] }[], now: number): void {
    this.#transact(() => {
      for (const e of entries) {
        const mask = this.#maskOf(e.urls);
        const row = this.#sql
          .exec<{ attesters: number | null }>(
            `SELECT attesters FROM charges WHERE request_id = ?`,
            e.requestId,
          )
          .toArray()[0];
        if (row) {
          if (row.attesters !== null)
            this.#sql.exec(
              `UPDATE charges SET attesters = ? WHERE request_id = ?`,
              row.attesters | mask,
              e.requestId,
            );
          continue;
        }
        const prev =
          this.#sql
            .exec<{ attesters: number }>(
              `SELECT attesters FROM late_attesters WHERE request_id = ?`,
              e.requestId,
            )
            .toArray()[0]?.attesters ?? 0;
        this.#sql.exec(
          `INSERT OR REPLACE INTO late_attesters (request_id, attesters, at) VALUES (?, ?, ?)`,
          e.requestId,
          prev | mask,
          now,
        );
      }
    });
  }

  /** Drops attester notes whose charge never came (its request failed or its stream closed). */
  pruneLateAttesters(before: number): void {
    this.#sql.exec(`DELETE FROM late_attesters WHERE at < ?`, before);
  }

  /** Charges in no batch, in charge order. */
  freeCharges(): PendingCharge[] {
    return this.#sql
      .exec<Row>(`SELECT rowid AS seq, * FROM charges WHERE batch_id IS NULL ORDER BY rowid`)
      .toArray()
      .map((r) => this.#chargeOf(r));
  }

  chargesOf(batchId: string): PendingCharge[] {
    return this.#sql
      .exec<Row>(`SELECT rowid AS seq, * FROM charges WHERE batch_id = ? ORDER BY rowid`, batchId)
      .toArray()
      .map((r) => this.#chargeOf(r));
  }

  #chargeOf(r: Row): PendingCharge {
    return {
      requestId: String(r.request_id),
      seq: Number(r.seq),
      sessionId: String(r.session_id) as `0x${string}`,
      agent: String(r.agent) as `0x${string}`,
      price: String(r.price),
      receiptDigest: String(r.digest) as `0x${string}`,
      addedAt: Number(r.added_at),
      attesters: r.attesters === null ? null : this.#urlsOf(Number(r.attesters)),
      refusedBy: this.#urlsOf(Number(r.refused)),
      strikes: Number(r.strikes),
    };
  }

  /** Validator `url` will not sign these receipts: it did not attest them. */
  refuse(url: string, digests: readonly string[]): void {
    const bit = 1 << this.#idOf(url);
    this.#transact(() => {
      for (const d of digests)
        this.#sql.exec(`UPDATE charges SET refused = refused | ? WHERE digest = ?`, bit, d);
    });
  }

  /** Validators refused a whole batch with these charges: plan them in smaller batches. */
  strike(batchId: string): void {
    this.#sql.exec(`UPDATE charges SET strikes = strikes + 1 WHERE batch_id = ?`, batchId);
  }

  // ---- batches ---------------------------------------------------------------------------

  /** Persists a planned batch and claims its charges, under a fresh batch id. */
  saveBatch(
    draft: { charges: readonly PendingCharge[]; body: BatchBody; total: string },
    now: number,
  ): StoredBatch {
    return this.#transact(() => {
      this.#sql.exec(`INSERT INTO counter (k, n) VALUES ('batch', 1) ON CONFLICT(k) DO UPDATE SET n = n + 1`);
      // Batch ids count up per gateway: the contract spends them in a bitmap, cheapest when dense.
      const n = this.#sql.exec<{ n: number }>(`SELECT n FROM counter WHERE k = 'batch'`).one().n;
      const batchId = toHex(BigInt(n), { size: 32 });
      this.#sql.exec(
        `INSERT INTO settle_batches (batch_id, state, created_at, updated_at, requests, total, body)
         VALUES (?, 'signing', ?, ?, ?, ?, ?)`,
        batchId,
        now,
        now,
        draft.charges.length,
        draft.total,
        JSON.stringify(draft.body),
      );
      for (const c of draft.charges) {
        this.#sql.exec(`UPDATE charges SET batch_id = ? WHERE request_id = ?`, batchId, c.requestId);
      }
      return this.batch(batchId) as StoredBatch;
    });
  }

  batch(batchId: string): StoredBatch | undefined {
    const r = this.#sql.exec<Row>(`SELECT * FROM settle_batches WHERE batch_id = ?`, batchId).toArray()[0];
    return r ? batchOf(r) : undefined;
  }

  openBatches(): StoredBatch[] {
    return this.#sql
      .exec<Row>(`SELECT * FROM settle_batches WHERE state IN ${OPEN_STATES} ORDER BY created_at`)
      .toArray()
      .map(batchOf);
  }

  updateBatch(
    batchId: string,
    patch: {
      state?: BatchState;
      signatures?: BatchSignature[];
      error?: SettlementProblem | null;
      tx?: string;
      attempt?: boolean;
    },
    now: number,
  ): void {
    const b = this.batch(batchId);
    if (!b) return;
    this.#sql.exec(
      `UPDATE settle_batches SET state = ?, signatures = ?, error = ?, tx = ?, attempts = ?, updated_at = ? WHERE batch_id = ?`,
      patch.state ?? b.state,
      JSON.stringify(patch.signatures ?? b.signatures),
      problemText(patch.error === undefined ? b.error : patch.error),
      patch.tx ?? b.tx,
      b.attempts + (patch.attempt ? 1 : 0),
      now,
      batchId,
    );
  }

  /** The chain settled the batch: its charges are paid and leave the queue. */
  settleBatch(batchId: string, tx: string | null, now: number): void {
    this.#transact(() => {
      this.#sql.exec(
        `INSERT OR IGNORE INTO settled_charges (request_id, at) SELECT request_id, ? FROM charges WHERE batch_id = ?`,
        now,
        batchId,
      );
      this.#sql.exec(`DELETE FROM settled_charges WHERE at < ?`, now - SETTLED_MEMORY_MS);
      this.#sql.exec(`DELETE FROM charges WHERE batch_id = ?`, batchId);
      this.#sql.exec(
        `UPDATE settle_batches SET state = 'settled', error = NULL, tx = coalesce(?, tx), updated_at = ?, body = NULL
         WHERE batch_id = ?`,
        tx,
        now,
        batchId,
      );
    });
  }

  /** The batch id is spent without settling: its charges are free to plan again. */
  abandonBatch(batchId: string, now: number): void {
    this.#transact(() => {
      this.#sql.exec(`UPDATE charges SET batch_id = NULL WHERE batch_id = ?`, batchId);
      this.#sql.exec(
        `UPDATE settle_batches SET state = 'abandoned', updated_at = ?, body = NULL WHERE batch_id = ?`,
        now,
        batchId,
      );
    });
  }

  /** Sessions with a batch not yet settled or abandoned: nothing else of theirs is planned meanwhile. */
  busySessions(): Set<string> {
    const out = new Set<string>();
    for (const b of this.openBatches()) for (const s of b.body.sessions) out.add(s.sessionId);
    return out;
  }

  // ---- vouchers validators refused ----------------------------------------------------------

  badVoucher(sessionId: string, amount: string, reason: string): void {
    this.#sql.exec(
      `INSERT OR IGNORE INTO bad_vouchers (session_id, amount, reason) VALUES (?, ?, ?)`,
      sessionId,
      amount,
      reason,
    );
  }

  badVouchers(sessionId: string): Set<bigint> {
    return new Set(
      this.#sql
        .exec<{ amount: string }>(`SELECT amount FROM bad_vouchers WHERE session_id = ?`, sessionId)
        .toArray()
        .map((r) => BigInt(r.amount)),
    );
  }

  // ---- releases ------------------------------------------------------------------------------

  saveReleases(releases: readonly Release[], now: number): void {
    this.#transact(() => {
      for (const r of releases) {
        this.#sql.exec(
          `INSERT OR IGNORE INTO released (request_id, session_id, price, digest, reason, detail, at)
           VALUES (?, ?, ?, ?, ?, ?, ?)`,
          r.charge.requestId,
          r.charge.sessionId,
          r.charge.price,
          r.charge.receiptDigest,
          r.reason,
          r.detail,
          now,
        );
        this.#sql.exec(`DELETE FROM charges WHERE request_id = ? AND batch_id IS NULL`, r.charge.requestId);
      }
    });
  }

  /** Releases the Session objects were not told of yet, per session. */
  unnotifiedReleases(): Map<string, { requestId: string; price: string; reason: string }[]> {
    const out = new Map<string, { requestId: string; price: string; reason: string }[]>();
    for (const r of this.#sql.exec<{ request_id: string; session_id: string; price: string; reason: string }>(
      `SELECT request_id, session_id, price, reason FROM released WHERE notified = 0 ORDER BY at`,
    )) {
      const list = out.get(r.session_id) ?? [];
      list.push({ requestId: r.request_id, price: r.price, reason: r.reason });
      out.set(r.session_id, list);
    }
    return out;
  }

  markNotified(requestIds: readonly string[]): void {
    for (const id of requestIds) this.#sql.exec(`UPDATE released SET notified = 1 WHERE request_id = ?`, id);
  }

  lastReleaseAt(): Map<string, number> {
    return new Map(
      this.#sql
        .exec<{ session_id: string; at: number }>(
          `SELECT session_id, max(at) AS at FROM released GROUP BY session_id`,
        )
        .toArray()
        .map((r) => [r.session_id, r.at]),
    );
  }

  // ---- validators --------------------------------------------------------------------------

  noteProbe(p: {
    url: string;
    up: boolean;
    validator: string | null;
    error: string | null;
    at: number;
  }): void {
    this.#idOf(p.url);
    this.#sql.exec(
      `UPDATE validators SET up = ?, checked_at = ?, error = ?, address = coalesce(?, address),
         down_since = CASE WHEN ? THEN NULL ELSE coalesce(down_since, ?) END WHERE url = ?`,
      p.up ? 1 : 0,
      p.at,
      p.error,
      p.validator,
      p.up ? 1 : 0,
      p.at,
      p.url,
    );
  }

  noteSigner(url: string, validator: string): void {
    this.#idOf(url);
    this.#sql.exec(`UPDATE validators SET address = ? WHERE url = ?`, validator, url);
  }

  noteRefusal(url: string, refusal: ValidatorRefusal): void {
    this.#idOf(url);
    this.#sql.exec(`UPDATE validators SET refusal = ? WHERE url = ?`, JSON.stringify(refusal), url);
  }

  validators(): ValidatorRow[] {
    return this.#sql
      .exec<Row>(`SELECT * FROM validators ORDER BY idx`)
      .toArray()
      .map((r) => ({
        url: String(r.url),
        validator: r.address === null ? null : String(r.address),
        up: r.up === null ? null : r.up === 1,
        downSince: r.down_since === null ? null : Number(r.down_since),
        checkedAt: r.checked_at === null ? null : Number(r.checked_at),
        error: r.error === null ? null : String(r.error),
        refusal: r.refusal === null ? null : refusalOf(String(r.refusal)),
      }));
  }

  // ---- figures -------------------------------------------------------------------------------

  pendingCount(): number {
    return this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM charges`).one().n;
  }

  figures(now: number) {
    const pending = this.#sql
      .exec<{ n: number; oldest: number | null; sessions: number }>(
        `SELECT count(*) AS n, min(added_at) AS oldest, count(DISTINCT session_id) AS sessions FROM charges`,
      )
      .one();
    const pendingAmount = sumOf(this.#sql.exec<{ price: string }>(`SELECT price FROM charges`).toArray());
    const settled = this.#sql
      .exec<{ b: number; r: number | null }>(
        `SELECT count(*) AS b, sum(requests) AS r FROM settle_batches WHERE state = 'settled'`,
      )
      .one();
    const abandoned = this.#sql
      .exec<{ b: number }>(`SELECT count(*) AS b FROM settle_batches WHERE state = 'abandoned'`)
      .one().b;
    const last = this.#sql
      .exec<Row>(`SELECT * FROM settle_batches WHERE state = 'settled' ORDER BY updated_at DESC LIMIT 1`)
      .toArray()[0];
    const released = this.#sql.exec<{ price: string }>(`SELECT price FROM released`).toArray();
    const recent = this.#sql
      .exec<Row>(`SELECT * FROM released ORDER BY at DESC LIMIT 20`)
      .toArray()
      .map((r) => ({
        requestId: String(r.request_id),
        sessionId: String(r.session_id),
        price: String(r.price),
        reason: String(r.reason),
        detail: String(r.detail),
        at: Number(r.at),
      }));
    return {
      pending: {
        count: pending.n,
        amount: pendingAmount.toString(),
        sessions: pending.sessions,
        oldestAgeMs: pending.oldest === null ? null : now - pending.oldest,
      },
      settledBatches: settled.b,
      settledRequests: settled.r ?? 0,
      abandonedBatches: abandoned,
      lastBatch: last
        ? {
            batchId: String(last.batch_id),
            requests: Number(last.requests),
            tx: last.tx === null ? null : String(last.tx),
            at: Number(last.updated_at),
          }
        : null,
      released: { count: released.length, amount: sumOf(released).toString(), recent },
    };
  }
}

function batchOf(r: Row): StoredBatch {
  return {
    batchId: String(r.batch_id) as `0x${string}`,
    state: String(r.state) as BatchState,
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
    attempts: Number(r.attempts),
    requests: Number(r.requests),
    total: String(r.total),
    body: (r.body === null ? emptyBody() : JSON.parse(String(r.body))) as BatchBody,
    signatures: JSON.parse(String(r.signatures)) as BatchSignature[],
    tx: r.tx === null ? null : String(r.tx),
    error: r.error === null ? null : parseSettlementProblem(String(r.error)),
  };
}

function problemText(p: SettlementProblem | null): string | null {
  return p === null ? null : JSON.stringify(p);
}

/** Only these fields are read back: a row stored with a refusal's text shows none of it. */
const StoredRefusal = v.object({
  code: v.string(),
  reason: v.nullable(v.string()),
  field: v.optional(v.nullable(v.string()), null),
  batchId: v.string(),
  at: v.number(),
});

function refusalOf(text: string): ValidatorRefusal | null {
  const r = v.safeParse(StoredRefusal, JSON.parse(text));
  return r.success ? r.output : null;
}

function emptyBody(): BatchBody {
  return { receiptsRoot: "0x", receiptDigests: [], sessions: [], payouts: [], salts: {} };
}

function sumOf(rows: readonly { price: string }[]): bigint {
  let t = 0n;
  for (const r of rows) t += BigInt(r.price);
  return t;
}

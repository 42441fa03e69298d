import type { Database } from "bun:sqlite";
import {
  AGENT_RECORD_TTL_MS,
  type AgentHeartbeat,
  Load,
  type ModelId,
  parseJson,
  parseOrThrow,
  type RecordKind,
  SignedRecord,
  type SubnetId,
} from "@ncn/protocol";
import { MAX_INDEXED_RECORDS } from "../constants.ts";
import { RecordRejectedError } from "../errors.ts";

export type AgentRecord = Extract<SignedRecord, { kind: "agent" }>;
export type ModelRecord = Extract<SignedRecord, { kind: "model" }>;
export type SubnetRecord = Extract<SignedRecord, { kind: "subnet" }>;
export type ValidatorRecord = Extract<SignedRecord, { kind: "validator" }>;
export type RecordOf<K extends RecordKind> = Extract<SignedRecord, { kind: K }>;

export interface IndexedRecord<R extends SignedRecord = SignedRecord> {
  record: R;
  receivedAt: number;
  /** Published by this node itself (re-published on start). */
  own: boolean;
}

export interface AgentLiveness {
  lastHeartbeat: number;
  load: Load;
}

export type UpsertResult = "inserted" | "updated" | "unchanged";

interface RecordRow {
  raw: string;
  own: number;
  received_at: number;
}

interface LivenessRow {
  agent: string;
  last_heartbeat: number;
  load: string;
}

const mapKey = (kind: RecordKind, key: string) => `${kind}\u0000${key}`;

/**
 * The node's view of every record it has seen (its own, submitted, gossiped, or met in
 * the DHT), kept in memory and in SQLite. The DHT has no listing operation; this index is
 * what the HTTP API lists from.
 */
export class RecordIndex {
  private readonly records = new Map<string, IndexedRecord>();
  private readonly liveness = new Map<string, AgentLiveness>();
  private readonly db: Database;
  private readonly maxRecords: number;

  /** `maxRecords`: records held at most; past it a new key from elsewhere is refused (own ones always fit). */
  constructor(db: Database, options: { maxRecords?: number } = {}) {
    this.db = db;
    this.maxRecords = options.maxRecords ?? MAX_INDEXED_RECORDS;
    for (const row of db.query<RecordRow, []>("SELECT raw, own, received_at FROM records").all()) {
      const record = parseOrThrow(SignedRecord, parseJson(row.raw, "stored record"), "stored record");
      this.records.set(mapKey(record.kind, record.key), {
        record,
        receivedAt: row.received_at,
        own: row.own === 1,
      });
    }
    for (const row of db
      .query<LivenessRow, []>("SELECT agent, last_heartbeat, load FROM agent_liveness")
      .all()) {
      this.liveness.set(row.agent, {
        lastHeartbeat: row.last_heartbeat,
        load: parseOrThrow(Load, parseJson(row.load, "stored load"), "stored load"),
      });
    }
  }

  get size(): number {
    return this.records.size;
  }

  /** Whether a new key from elsewhere would pass the cap. */
  get full(): boolean {
    return this.records.size >= this.maxRecords;
  }

  get<K extends RecordKind>(kind: K, key: string): IndexedRecord<RecordOf<K>> | undefined {
    return this.records.get(mapKey(kind, key)) as IndexedRecord<RecordOf<K>> | undefined;
  }

  /**
   * Throws unless `record` may replace what the index holds for its key: a lower seq is
   * stale, an equal seq must be the very same record, and a model or subnet keeps its
   * first owner unless `ownerChecked` says the chain already named the rightful owner
   * (who may be a new one after a transfer).
   */
  assertAcceptable(record: SignedRecord, options: { ownerChecked?: boolean } = {}): void {
    const known = this.records.get(mapKey(record.kind, record.key))?.record;
    if (!known) {
      if (this.full) {
        throw new RecordRejectedError("UNAVAILABLE", `this node holds ${this.maxRecords} records, its most`, {
          details: { kind: record.kind, key: record.key, reason: "index_full" },
        });
      }
      return;
    }
    if (record.seq < known.seq) {
      throw new RecordRejectedError("STALE_RECORD", `record seq ${record.seq} is older than ${known.seq}`, {
        details: { kind: record.kind, key: record.key, seq: record.seq, known: known.seq },
      });
    }
    if (record.seq === known.seq && record.signature !== known.signature) {
      throw new RecordRejectedError("CONFLICT", `another record with seq ${record.seq} exists for this key`, {
        details: { kind: record.kind, key: record.key, seq: record.seq },
      });
    }
    if (record.owner !== known.owner && options.ownerChecked !== true) {
      throw new RecordRejectedError("NAME_TAKEN", `${record.kind} ${record.key} belongs to ${known.owner}`, {
        details: { kind: record.kind, key: record.key, owner: known.owner },
      });
    }
  }

  /** Stores a verified record if it is newer than what the index holds. */
  upsert(record: SignedRecord, options: { own?: boolean; now?: number } = {}): UpsertResult {
    const k = mapKey(record.kind, record.key);
    const known = this.records.get(k);
    const own = options.own === true || known?.own === true;
    if (known && known.record.seq >= record.seq) {
      if (own && !known.own) this.setOwn(record, known);
      return "unchanged";
    }
    // Keys already held keep updating and this node's own records always fit; a flood of
    // fresh keys (throw-away owners cost nothing) stops at the cap instead of displacing
    // records held first, whose owners they stay.
    if (!known && !own && this.full) return "unchanged";
    const receivedAt = options.now ?? Date.now();
    this.records.set(k, { record, receivedAt, own });
    this.db.run(
      `INSERT INTO records (kind, key, seq, owner, expires_at, raw, own, received_at)
       VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
       ON CONFLICT(kind, key) DO UPDATE SET seq = ?3, owner = ?4, expires_at = ?5, raw = ?6, own = ?7, received_at = ?8`,
      [
        record.kind,
        record.key,
        record.seq,
        record.owner,
        record.expiresAt ?? null,
        JSON.stringify(record),
        own ? 1 : 0,
        receivedAt,
      ],
    );
    return known ? "updated" : "inserted";
  }

  private setOwn(record: SignedRecord, known: IndexedRecord): void {
    known.own = true;
    this.db.run("UPDATE records SET own = 1 WHERE kind = ?1 AND key = ?2", [record.kind, record.key]);
  }

  /** Records a heartbeat if it is the newest seen for its agent; returns whether it was. */
  heartbeat(hb: AgentHeartbeat): boolean {
    const prev = this.liveness.get(hb.agent);
    if (prev && prev.lastHeartbeat >= hb.at) return false;
    this.liveness.set(hb.agent, { lastHeartbeat: hb.at, load: hb.load });
    this.db.run(
      `INSERT INTO agent_liveness (agent, last_heartbeat, load) VALUES (?1, ?2, ?3)
       ON CONFLICT(agent) DO UPDATE SET last_heartbeat = ?2, load = ?3`,
      [hb.agent, hb.at, JSON.stringify(hb.load)],
    );
    return true;
  }

  livenessOf(agent: string): AgentLiveness | undefined {
    return this.liveness.get(agent);
  }

  /** An agent is alive until its record expires or TTL after its last heartbeat, whichever is later. */
  aliveUntil(record: AgentRecord): number {
    const fromRecord = record.expiresAt ?? 0;
    const hb = this.liveness.get(record.owner);
    return Math.max(fromRecord, hb ? hb.lastHeartbeat + AGENT_RECORD_TTL_MS : 0);
  }

  list<K extends RecordKind>(kind: K): IndexedRecord<RecordOf<K>>[] {
    const out: IndexedRecord<RecordOf<K>>[] = [];
    for (const entry of this.records.values()) {
      if (entry.record.kind === kind) out.push(entry as IndexedRecord<RecordOf<K>>);
    }
    return out.sort((a, b) => (a.record.key < b.record.key ? -1 : a.record.key > b.record.key ? 1 : 0));
  }

  /** Agents alive at `now`, optionally serving a subnet and/or a model. */
  liveAgents(
    filter: { subnet?: SubnetId | undefined; model?: ModelId | undefined } = {},
    now = Date.now(),
  ): IndexedRecord<AgentRecord>[] {
    return this.list("agent").filter(
      ({ record }) =>
        this.aliveUntil(record) > now &&
        (filter.subnet === undefined || record.body.subnets.includes(filter.subnet)) &&
        (filter.model === undefined || record.body.models.includes(filter.model)),
    );
  }

  ownRecords(): SignedRecord[] {
    return [...this.records.values()].filter((e) => e.own).map((e) => e.record);
  }

  /** Drops agents that are no longer alive and records past their expiry; returns how many. */
  prune(now = Date.now()): number {
    let removed = 0;
    for (const [k, entry] of this.records) {
      const { record } = entry;
      const dead =
        record.kind === "agent"
          ? this.aliveUntil(record) <= now
          : record.expiresAt !== undefined && record.expiresAt <= now;
      if (!dead || entry.own) continue;
      this.records.delete(k);
      this.db.run("DELETE FROM records WHERE kind = ?1 AND key = ?2", [record.kind, record.key]);
      if (record.kind === "agent") {
        this.liveness.delete(record.owner);
        this.db.run("DELETE FROM agent_liveness WHERE agent = ?1", [record.owner]);
      }
      removed++;
    }
    return removed;
  }
}

import { DurableObject } from "cloudflare:workers";
import { merkleBatch } from "@ncn/protocol";
import { toHex } from "viem";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import { type PendingCharge, planBatch, type SessionVouchers } from "../logic/batch.ts";
import { gatherSettlementSignatures } from "../validators/settlement.ts";

const log = logger("gateway:settlement");
/** Shortest pause between two settlement attempts started by arriving charges. */
const MIN_FLUSH_GAP_MS = 500;
/** Most receipts in one settlement transaction. */
const MAX_BATCH = 1000;

export interface SettlementStatus {
  pending: number;
  settledBatches: number;
  settledRequests: number;
  lastBatch: { batchId: string; requests: number; tx: string; at: number } | null;
  lastError: string | null;
}

/**
 * Batches charged session requests and settles them on chain: every SETTLE_EVERY
 * requests or SETTLE_INTERVAL_MS, whichever comes first. One transaction carries the
 * newest voucher of every session in the batch, the per-node payouts, the Merkle root
 * of the receipts and M-of-N validator signatures over the batch.
 */
export class SettlementObject extends DurableObject<Env> {
  readonly #sql: SqlStorage;
  #flushing: Promise<void> | undefined;
  #lastError: string | null = null;
  #lastFlushAt = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#sql = ctx.storage.sql;
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS pending (
      request_id TEXT PRIMARY KEY, session_id TEXT NOT NULL, agent TEXT NOT NULL, price TEXT NOT NULL,
      digest TEXT NOT NULL, added_at INTEGER NOT NULL)`);
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS batches (
      batch_id TEXT PRIMARY KEY, requests INTEGER NOT NULL, tx TEXT NOT NULL, at INTEGER NOT NULL)`);
  }

  async add(entry: Omit<PendingCharge, "addedAt">): Promise<void> {
    await this.addMany([entry]);
  }

  /** Queues charges in order (a stream's validated batch arrives as one call). */
  async addMany(entries: Omit<PendingCharge, "addedAt">[]): Promise<void> {
    const now = Date.now();
    for (const entry of entries) {
      this.#sql.exec(
        `INSERT OR IGNORE INTO pending (request_id, session_id, agent, price, digest, added_at) VALUES (?, ?, ?, ?, ?, ?)`,
        entry.requestId,
        entry.sessionId,
        entry.agent,
        entry.price,
        entry.receiptDigest,
        now,
      );
    }
    const config = configOf(this.env);
    const n = this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM pending`).one().n;
    // A full batch settles now, unless one is being settled or was tried a moment ago (its
    // charges may still wait for the client's voucher): then the alarm comes back for it.
    if (n >= config.SETTLE_EVERY && !this.#flushing && Date.now() - this.#lastFlushAt >= MIN_FLUSH_GAP_MS) {
      this.ctx.waitUntil(this.flush());
    } else {
      await this.#rearm();
    }
  }

  override async alarm(): Promise<void> {
    await this.flush();
  }

  /** Settles what is pending now (one batch at a time). */
  async flush(): Promise<void> {
    this.#flushing ??= this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
    await this.#rearm();
  }

  /** Whatever is still pending after an attempt gets an alarm: soon when a full batch waits. */
  async #rearm(): Promise<void> {
    const n = this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM pending`).one().n;
    if (n === 0) return;
    const config = configOf(this.env);
    const due = Date.now() + (n >= config.SETTLE_EVERY ? MIN_FLUSH_GAP_MS : config.SETTLE_INTERVAL_MS);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
  }

  async status(): Promise<SettlementStatus> {
    const pending = this.#sql.exec<{ n: number }>(`SELECT count(*) AS n FROM pending`).one().n;
    const agg = this.#sql
      .exec<{ b: number; r: number | null }>(`SELECT count(*) AS b, sum(requests) AS r FROM batches`)
      .one();
    const last = this.#sql
      .exec<{ batch_id: string; requests: number; tx: string; at: number }>(
        `SELECT * FROM batches ORDER BY at DESC LIMIT 1`,
      )
      .toArray()[0];
    return {
      pending,
      settledBatches: agg.b,
      settledRequests: agg.r ?? 0,
      lastBatch: last ? { batchId: last.batch_id, requests: last.requests, tx: last.tx, at: last.at } : null,
      lastError: this.#lastError,
    };
  }

  /** Batch ids count up per gateway: the contract spends them in a bitmap, cheapest when dense. */
  #nextBatchId(): `0x${string}` {
    this.#sql.exec(`CREATE TABLE IF NOT EXISTS counter (k TEXT PRIMARY KEY, n INTEGER NOT NULL)`);
    this.#sql.exec(`INSERT INTO counter (k, n) VALUES ('batch', 1) ON CONFLICT(k) DO UPDATE SET n = n + 1`);
    const n = this.#sql.exec<{ n: number }>(`SELECT n FROM counter WHERE k = 'batch'`).one().n;
    return toHex(BigInt(n), { size: 32 });
  }

  async #flushOnce(): Promise<void> {
    this.#lastFlushAt = Date.now();
    const rows = this.#sql
      .exec<{
        request_id: string;
        session_id: string;
        agent: string;
        price: string;
        digest: string;
        added_at: number;
      }>(`SELECT * FROM pending ORDER BY added_at, rowid LIMIT ?`, MAX_BATCH)
      .toArray();
    if (rows.length === 0) return;
    const config = configOf(this.env);
    const chain = chainOf(config);
    const charges: PendingCharge[] = rows.map((r) => ({
      requestId: r.request_id,
      sessionId: r.session_id as `0x${string}`,
      agent: r.agent as `0x${string}`,
      price: r.price,
      receiptDigest: r.digest as `0x${string}`,
      addedAt: r.added_at,
    }));
    try {
      const sessions = new Map<string, SessionVouchers>();
      const salts = new Map<string, `0x${string}`>();
      for (const sessionId of new Set(charges.map((c) => c.sessionId))) {
        const onChain = await chain.readSession(sessionId);
        const salt = await chain.sessionSalt(sessionId);
        const snap = await this.env.SESSION.get(this.env.SESSION.idFromName(sessionId)).snapshot();
        if (!onChain || !salt || !snap) continue;
        salts.set(sessionId, salt);
        sessions.set(sessionId, {
          settled: onChain.settled,
          vouchers: snap.vouchers.map((v) => ({ amount: BigInt(v.amount), signature: v.signature })),
        });
      }
      const plan = planBatch(charges, sessions);
      if (plan.included.length === 0) {
        this.#lastError = "no pending charge is matched by a client voucher yet";
        return;
      }
      const batchId = this.#nextBatchId();
      const tree = merkleBatch(plan.included.map((c) => c.receiptDigest));
      const signatures = await gatherSettlementSignatures(config.REGISTRY_URLS, config.VALIDATION_THRESHOLD, {
        batchId,
        gateway: chain.gateway,
        receiptsRoot: tree.root,
        receiptDigests: plan.included.map((c) => c.receiptDigest),
        sessions: plan.sessions,
        payouts: plan.payouts,
      });
      const tx = await chain.settleBatch({
        batchId,
        receiptsRoot: tree.root,
        vouchers: plan.sessions.map((s) => ({
          sessionId: s.sessionId,
          salt: salts.get(s.sessionId) as `0x${string}`,
          cumulativeAmount: BigInt(s.voucherAmount),
          signature: s.voucherSignature,
        })),
        payouts: plan.payouts.map((p) => ({ node: p.node, amount: BigInt(p.amount) })),
        validatorSignatures: signatures,
      });
      const now = Date.now();
      this.#sql.exec(
        `INSERT INTO batches (batch_id, requests, tx, at) VALUES (?, ?, ?, ?)`,
        batchId,
        plan.included.length,
        tx,
        now,
      );
      for (const c of plan.included) this.#sql.exec(`DELETE FROM pending WHERE request_id = ?`, c.requestId);
      for (const s of plan.sessions) {
        await this.env.SESSION.get(this.env.SESSION.idFromName(s.sessionId)).settled(s.voucherAmount);
      }
      this.#lastError = null;
      log.info("batch settled", { batchId, requests: plan.included.length, tx });
    } catch (e) {
      this.#lastError = e instanceof Error ? e.message : String(e);
      log.error("settlement failed; will retry", { error: this.#lastError, requests: rows.length });
      if ((await this.ctx.storage.getAlarm()) === null) {
        await this.ctx.storage.setAlarm(Date.now() + config.SETTLE_INTERVAL_MS);
      }
    }
  }
}

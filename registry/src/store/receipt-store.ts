import type { Database } from "bun:sqlite";
import type { AttestationSig } from "@ncn/protocol";

export interface AttestedReceipt {
  /** EIP-712 digest of the receipt (its leaf in a settlement batch). */
  digest: `0x${string}`;
  requestId: `0x${string}`;
  agent: `0x${string}`;
  price: bigint;
  /** The session the request was charged to; null when an escrow paid it (never in a settlement batch). */
  sessionId: `0x${string}` | null;
}

/** How a receipt was attested: by itself (with that attestation), or under a batch root. */
export type AttestedAs =
  | { receiptsRoot: null; attestation: AttestationSig }
  | { receiptsRoot: `0x${string}` };

/** A settlement batch, as a gateway names it on chain. */
export interface BatchKey {
  gateway: `0x${string}`;
  batchId: `0x${string}`;
}

/** A receipt this validator attested, with where it stands in settlement. */
export interface StoredReceipt extends AttestedReceipt {
  /** The batch this validator signed it into, until that batch is known dead. */
  claim: BatchKey | null;
  /** Its claiming batch settled on chain: paid for good. */
  settled: boolean;
}

interface Row {
  digest: string;
  request_id: string;
  agent: string;
  price: string;
  session_id: string | null;
  claim_gateway: string | null;
  claim_batch: string | null;
  settled: number;
}

/**
 * Receipts whose completion this validator attested: one per request id (a unique index),
 * the only ones it will settle, each for the session it was charged to, and each in one
 * settlement batch at a time.
 */
export class ReceiptStore {
  private readonly db: Database;
  constructor(db: Database) {
    this.db = db;
  }

  /**
   * Records an attested receipt and how it was attested; a receipt, or a request id, already
   * known keeps its first record. Returns whether this call stored it (false: known already).
   */
  add(r: AttestedReceipt, as: AttestedAs, now = Date.now()): boolean {
    const { changes } = this.db
      .query(
        `INSERT OR IGNORE INTO attested_receipts
           (digest, request_id, agent, price, session_id, receipts_root, attestation, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)`,
      )
      .run(
        r.digest.toLowerCase(),
        r.requestId.toLowerCase(),
        r.agent.toLowerCase(),
        r.price.toString(),
        r.sessionId?.toLowerCase() ?? null,
        as.receiptsRoot?.toLowerCase() ?? null,
        as.receiptsRoot === null ? JSON.stringify(as.attestation) : null,
        now,
      );
    return changes > 0;
  }

  /** Keeps the attestation signed over a batch root (once for all its receipts). */
  addBatchAttestation(receiptsRoot: string, attestation: AttestationSig): void {
    this.db
      .query("INSERT OR IGNORE INTO batch_attestations (receipts_root, attestation) VALUES (?1, ?2)")
      .run(receiptsRoot.toLowerCase(), JSON.stringify(attestation));
  }

  get(digest: string): StoredReceipt | undefined {
    const row = this.db
      .query<Row, [string]>(
        `SELECT digest, request_id, agent, price, session_id, claim_gateway, claim_batch, settled
         FROM attested_receipts WHERE digest = ?1`,
      )
      .get(digest.toLowerCase());
    if (!row) return undefined;
    return {
      digest: row.digest as `0x${string}`,
      requestId: row.request_id as `0x${string}`,
      agent: row.agent as `0x${string}`,
      price: BigInt(row.price),
      sessionId: row.session_id as `0x${string}` | null,
      claim:
        row.claim_gateway && row.claim_batch
          ? { gateway: row.claim_gateway as `0x${string}`, batchId: row.claim_batch as `0x${string}` }
          : null,
      settled: row.settled === 1,
    };
  }

  /** What this validator signed under a batch id before (a content hash), if anything. */
  batchContent(batch: BatchKey): string | undefined {
    return (
      this.db
        .query<{ content: string }, [string, string]>(
          "SELECT content FROM settlement_batches WHERE gateway = ?1 AND batch_id = ?2",
        )
        .get(batch.gateway.toLowerCase(), batch.batchId.toLowerCase())?.content ?? undefined
    );
  }

  /** Records a signed batch and claims its receipts for it (one transaction). */
  claim(batch: BatchKey, content: string, digests: readonly string[], now = Date.now()): void {
    const gateway = batch.gateway.toLowerCase();
    const batchId = batch.batchId.toLowerCase();
    this.db.transaction(() => {
      this.db
        .query(
          "INSERT OR IGNORE INTO settlement_batches (gateway, batch_id, content, created_at) VALUES (?1, ?2, ?3, ?4)",
        )
        .run(gateway, batchId, content, now);
      const set = this.db.query(
        "UPDATE attested_receipts SET claim_gateway = ?1, claim_batch = ?2 WHERE digest = ?3",
      );
      for (const digest of digests) set.run(gateway, batchId, digest.toLowerCase());
    })();
  }

  /** The batch settled on chain: its receipts are paid for good. */
  markSettled(batch: BatchKey): void {
    this.db
      .query("UPDATE attested_receipts SET settled = 1 WHERE claim_gateway = ?1 AND claim_batch = ?2")
      .run(batch.gateway.toLowerCase(), batch.batchId.toLowerCase());
  }

  /** The batch can never settle: its receipts are free to join another one. */
  release(batch: BatchKey): void {
    this.db
      .query(
        "UPDATE attested_receipts SET claim_gateway = NULL, claim_batch = NULL WHERE claim_gateway = ?1 AND claim_batch = ?2 AND settled = 0",
      )
      .run(batch.gateway.toLowerCase(), batch.batchId.toLowerCase());
  }
}

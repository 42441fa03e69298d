import type { Database } from "bun:sqlite";

export interface AttestedReceipt {
  /** EIP-712 digest of the receipt (its leaf in a settlement batch). */
  digest: `0x${string}`;
  requestId: `0x${string}`;
  agent: `0x${string}`;
  price: bigint;
}

interface Row {
  digest: string;
  request_id: string;
  agent: string;
  price: string;
}

/** Receipts whose completion this validator attested: the only ones it will settle. */
export class ReceiptStore {
  private readonly db: Database;
  constructor(db: Database) {
    this.db = db;
  }

  add(r: AttestedReceipt, now = Date.now()): void {
    this.db
      .query(
        `INSERT OR IGNORE INTO attested_receipts (digest, request_id, agent, price, created_at) VALUES (?1, ?2, ?3, ?4, ?5)`,
      )
      .run(r.digest.toLowerCase(), r.requestId.toLowerCase(), r.agent.toLowerCase(), r.price.toString(), now);
  }

  get(digest: string): AttestedReceipt | undefined {
    const row = this.db
      .query<Row, [string]>(
        "SELECT digest, request_id, agent, price FROM attested_receipts WHERE digest = ?1",
      )
      .get(digest.toLowerCase());
    return row
      ? {
          digest: row.digest as `0x${string}`,
          requestId: row.request_id as `0x${string}`,
          agent: row.agent as `0x${string}`,
          price: BigInt(row.price),
        }
      : undefined;
  }
}

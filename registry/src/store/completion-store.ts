import type { Database } from "bun:sqlite";
import { AttestationSig, parseJson, parseOrThrow } from "@ncn/protocol";

/** The one completion a request id was attested with. */
export interface AttestedCompletion {
  /** bytes32 request id. */
  requestId: `0x${string}`;
  /** EIP-712 digest of the attested receipt. */
  digest: `0x${string}`;
  /** The batch root the receipt was attested under; null when it was attested alone. */
  receiptsRoot: `0x${string}` | null;
  /**
   * The attestation given: over the receipt, or over `receiptsRoot`; null for a receipt
   * attested before this node kept its attestations.
   */
  attestation: AttestationSig | null;
}

interface Row {
  request_id: string;
  digest: string;
  receipts_root: string | null;
  attestation: string | null;
}

const SELECT = `SELECT r.request_id, r.digest, r.receipts_root, COALESCE(r.attestation, b.attestation) AS attestation
  FROM attested_receipts r LEFT JOIN batch_attestations b ON b.receipts_root = r.receipts_root`;

function fromRow(row: Row): AttestedCompletion {
  return {
    requestId: row.request_id as `0x${string}`,
    digest: row.digest as `0x${string}`,
    receiptsRoot: row.receipts_root as `0x${string}` | null,
    attestation:
      row.attestation === null
        ? null
        : parseOrThrow(AttestationSig, parseJson(row.attestation, "attestation"), "attestation"),
  };
}

/**
 * One completion attestation per request id, ever: a validator that signed two different
 * completions for one request id can be slashed (`ValidatorRegistry.reportDoubleSign`).
 * What was attested is read from the attested receipts (one per request id, by a unique
 * index); requests being validated right now are also held in memory, so that two
 * concurrent calls with different receipts for one request cannot both pass the check
 * before either is stored.
 */
export class CompletionStore {
  private readonly db: Database;
  /** Request id -> receipt digest of calls in progress. */
  private readonly inFlight = new Map<string, { digest: string; holders: number }>();

  constructor(db: Database) {
    this.db = db;
  }

  get(requestId: string): AttestedCompletion | undefined {
    const row = this.db
      .query<Row, [string]>(`${SELECT} WHERE r.request_id = ?1`)
      .get(requestId.toLowerCase());
    return row ? fromRow(row) : undefined;
  }

  /** `get` for many request ids in one query (a batch looks its items up at once). */
  getMany(requestIds: readonly string[]): Map<string, AttestedCompletion> {
    const rows = this.db
      .query<Row, [string]>(`${SELECT} WHERE r.request_id IN (SELECT value FROM json_each(?1))`)
      .all(JSON.stringify(requestIds.map((id) => id.toLowerCase())));
    const out = new Map<string, AttestedCompletion>();
    for (const row of rows) out.set(row.request_id, fromRow(row));
    return out;
  }

  /**
   * Holds a request id for a receipt while it is validated. Returns the digest another call
   * holds it for when that differs (the caller refuses), else undefined and the hold is taken:
   * give it back with `release`.
   */
  hold(requestId: string, digest: string): string | undefined {
    const key = requestId.toLowerCase();
    const held = this.inFlight.get(key);
    if (held && held.digest !== digest.toLowerCase()) return held.digest;
    if (held) held.holders++;
    else this.inFlight.set(key, { digest: digest.toLowerCase(), holders: 1 });
    return undefined;
  }

  release(requestId: string): void {
    const key = requestId.toLowerCase();
    const held = this.inFlight.get(key);
    if (!held) return;
    held.holders--;
    if (held.holders <= 0) this.inFlight.delete(key);
  }
}

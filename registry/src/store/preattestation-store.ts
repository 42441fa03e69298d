import type { Database } from "bun:sqlite";
import { pruneTable } from "./prune-table.ts";

/** The terms a request was pre-attested with: what its completion must match. */
export interface Preattestation {
  /** bytes32 request id. */
  requestId: `0x${string}`;
  agent: `0x${string}`;
  subnet: string;
  model: string;
  price: bigint;
  /** The session the request is charged to; null when an escrow pays it. */
  sessionId: `0x${string}` | null;
  deadline: number;
  /** The gateway that asked. */
  gateway: `0x${string}`;
}

interface Row {
  request_id: string;
  agent: string;
  subnet: string;
  model: string;
  price: string;
  session_id: string | null;
  deadline: number;
  gateway: string;
}

/**
 * Requests this validator pre-attested, by request id and agent. A request retried on
 * another agent is pre-attested again for that agent; the same agent again replaces its terms.
 */
export class PreattestationStore {
  private readonly db: Database;
  constructor(db: Database) {
    this.db = db;
  }

  save(p: Preattestation, now = Date.now()): void {
    this.db
      .query(
        `INSERT INTO preattested (request_id, agent, subnet, model, price, session_id, deadline, gateway, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
         ON CONFLICT(request_id, agent) DO UPDATE SET subnet = ?3, model = ?4, price = ?5, session_id = ?6,
           deadline = ?7, gateway = ?8, created_at = ?9`,
      )
      .run(
        p.requestId.toLowerCase(),
        p.agent.toLowerCase(),
        p.subnet,
        p.model,
        p.price.toString(),
        p.sessionId?.toLowerCase() ?? null,
        p.deadline,
        p.gateway.toLowerCase(),
        now,
      );
  }

  get(requestId: string, agent: string): Preattestation | undefined {
    const row = this.db
      .query<Row, [string, string]>(
        "SELECT request_id, agent, subnet, model, price, session_id, deadline, gateway FROM preattested WHERE request_id = ?1 AND agent = ?2",
      )
      .get(requestId.toLowerCase(), agent.toLowerCase());
    return row
      ? {
          requestId: row.request_id as `0x${string}`,
          agent: row.agent as `0x${string}`,
          subnet: row.subnet,
          model: row.model,
          price: BigInt(row.price),
          sessionId: row.session_id as `0x${string}` | null,
          deadline: row.deadline,
          gateway: row.gateway as `0x${string}`,
        }
      : undefined;
  }

  /**
   * Forgets terms whose deadline passed before `before`: no completion can be attested for
   * them any more (a receipt must finish by its deadline). Returns how many went.
   */
  prune(before: number): number {
    return this.db.query("DELETE FROM preattested WHERE deadline < ?1").run(before).changes;
  }

  /**
   * Forgets terms saved before `before` whatever their deadline (a gateway may name one far
   * ahead), then the oldest past `maxRows`. A completion for forgotten terms is refused, never
   * attested wrongly.
   */
  pruneSaved(before: number, maxRows: number): number {
    return pruneTable(this.db, "preattested", before, maxRows);
  }
}

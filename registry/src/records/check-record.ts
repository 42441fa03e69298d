import {
  AGENT_RECORD_TTL_MS,
  BaseError,
  parseJson,
  recordDhtKey,
  type SignedRecord,
  verifyRecord,
} from "@ncn/protocol";
import { CLOCK_SKEW_MS } from "../constants.ts";
import { RecordRejectedError } from "../errors.ts";
import type { RecordIndex } from "./record-index.ts";

export interface CheckRecordOptions {
  now?: number;
  /** The DHT key the record was stored under; must match the record's own key. */
  dhtKey?: string;
  /** When given, a record older than (or conflicting with) the indexed one is refused. */
  index?: RecordIndex;
}

/**
 * Every check a record passes before this node stores, serves or forwards it: schema,
 * owner's signature and key rules (protocol `verifyRecord`), expiry, the agent TTL cap,
 * the DHT key, and no roll-back against the index.
 */
export async function checkRecord(input: unknown, options: CheckRecordOptions = {}): Promise<SignedRecord> {
  const now = options.now ?? Date.now();
  let record: SignedRecord;
  try {
    record = await verifyRecord(input, now);
  } catch (e) {
    if (e instanceof BaseError)
      throw new RecordRejectedError(e.code, e.shortMessage, { cause: e, details: e.details });
    throw e;
  }
  if (record.kind === "agent") {
    if (record.expiresAt === undefined) {
      throw new RecordRejectedError("INVALID_INPUT", "agent records must carry expiresAt", {
        details: { field: "expiresAt" },
      });
    }
    const latest = now + AGENT_RECORD_TTL_MS + CLOCK_SKEW_MS;
    if (record.expiresAt > latest) {
      throw new RecordRejectedError("INVALID_INPUT", `agent records live at most ${AGENT_RECORD_TTL_MS} ms`, {
        details: { field: "expiresAt", max: latest },
      });
    }
  }
  if (options.dhtKey !== undefined && options.dhtKey !== recordDhtKey(record.kind, record.key)) {
    throw new RecordRejectedError("INVALID_INPUT", "record stored under a key that is not its own", {
      details: { dhtKey: options.dhtKey, expected: recordDhtKey(record.kind, record.key) },
    });
  }
  options.index?.assertAcceptable(record);
  return record;
}

const decoder = new TextDecoder("utf-8", { fatal: true });
const encoder = new TextEncoder();

export function encodeRecord(record: SignedRecord): Uint8Array {
  return encoder.encode(JSON.stringify(record));
}

/** Decodes a DHT value (UTF-8 JSON); throws `INVALID_INPUT` on bad bytes. */
export function decodeRecordValue(value: Uint8Array): unknown {
  let text: string;
  try {
    text = decoder.decode(value);
  } catch (e) {
    throw new RecordRejectedError("INVALID_INPUT", "record value is not UTF-8", { cause: e });
  }
  return parseJson(text, "record value");
}

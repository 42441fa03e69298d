import {
  AGENT_RECORD_TTL_MS,
  BaseError,
  canonicalJson,
  parseJson,
  recordDhtKey,
  type SignedRecord,
  verifyRecord,
} from "@ncn/protocol";
import { recoverTextSignerNative } from "@ncn/protocol/secp256k1";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import { CLOCK_SKEW_MS, VERIFIED_CACHE_SIZE } from "../constants.ts";
import { RecordRejectedError } from "../errors.ts";
import type { RecordIndex } from "./record-index.ts";

export interface CheckRecordOptions {
  now?: number;
  /** The DHT key the record was stored under; must match the record's own key. */
  dhtKey?: string;
  /** When given, a record older than (or conflicting with) the indexed one is refused. */
  index?: RecordIndex;
  /**
   * When given, a subnet or model record is accepted only from the owner the chain names for
   * its key; the index's first-seen owner then no longer decides (the chain does, past expiry
   * and on nodes that never saw the name).
   */
  names?: NameOwnerReader;
}

/** Records whose signature was already checked, by canonical JSON (signature included). */
const verified = new Map<string, SignedRecord>();

/**
 * protocol `verifyRecord`, remembering records that passed: the DHT validates the same
 * record many times (on every put, local read and lookup answer) and a signature recovery
 * costs ~1-2 ms. Expiry is checked again on every call.
 */
async function verifyCached(input: unknown, now: number): Promise<SignedRecord> {
  let key: string | undefined;
  try {
    key = canonicalJson(input);
  } catch {
    key = undefined;
  }
  const hit = key === undefined ? undefined : verified.get(key);
  if (hit) {
    if (hit.expiresAt !== undefined && hit.expiresAt <= now) {
      throw new RecordRejectedError("STALE_RECORD", "record has expired");
    }
    return hit;
  }
  const record = await verifyRecord(input, now, recoverTextSignerNative);
  if (key !== undefined) {
    if (verified.size >= VERIFIED_CACHE_SIZE) {
      const oldest = verified.keys().next().value;
      if (oldest !== undefined) verified.delete(oldest);
    }
    verified.set(key, record);
  }
  return record;
}

/**
 * Every check a record passes before this node stores, serves or forwards it: schema,
 * owner's signature and key rules (protocol `verifyRecord`), expiry, the agent TTL cap,
 * the DHT key, the owner of a subnet or model name, and no roll-back against the index.
 */
export async function checkRecord(input: unknown, options: CheckRecordOptions = {}): Promise<SignedRecord> {
  const now = options.now ?? Date.now();
  let record: SignedRecord;
  try {
    record = await verifyCached(input, now);
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
  if (options.names && (record.kind === "subnet" || record.kind === "model")) {
    await assertNameOwner(options.names, record.kind, record.key, record.owner);
  }
  options.index?.assertAcceptable(record, { ownerChecked: options.names !== undefined });
  return record;
}

async function assertNameOwner(
  names: NameOwnerReader,
  kind: "subnet" | "model",
  name: string,
  publisher: string,
): Promise<void> {
  let owner: `0x${string}` | null;
  try {
    owner = await names.ownerOf(kind, name);
  } catch (e) {
    // Without the chain's answer nobody is known to own the name: refuse rather than guess.
    throw new RecordRejectedError("UNAVAILABLE", `cannot check who owns ${kind} ${name}`, {
      cause: e,
      details: { kind, key: name },
    });
  }
  if (owner === null) {
    throw new RecordRejectedError("FORBIDDEN", `${kind} ${name} is not claimed on chain: claim it first`, {
      details: { kind, key: name, reason: "unclaimed" },
    });
  }
  if (owner !== publisher) {
    throw new RecordRejectedError("NAME_TAKEN", `${kind} ${name} belongs to ${owner}`, {
      details: { kind, key: name, owner },
    });
  }
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

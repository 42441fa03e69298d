import { afterEach, describe, expect, test } from "bun:test";
import { AGENT_RECORD_TTL_MS, recordDhtKey } from "@ncn/protocol";
import type { NameOwnerReader } from "../chain/name-owners.ts";
import { openDatabase } from "../store/database.ts";
import {
  addressOf,
  agentRecord,
  fakeModel,
  modelRecord,
  newAccount,
  subnetRecord,
} from "../test-support/records.ts";
import { checkRecord, decodeRecordValue, encodeRecord } from "./check-record.ts";
import { dhtRecordSelector } from "./dht-record-validator.ts";
import { RecordIndex } from "./record-index.ts";

const dbs: { close(): void }[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});
function memoryIndex() {
  const db = openDatabase(":memory:");
  dbs.push(db);
  return new RecordIndex(db);
}

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  try {
    await p;
    return undefined;
  } catch (e) {
    return (e as { code?: string }).code;
  }
}

describe("checkRecord", () => {
  test("accepts a record signed by its owner", async () => {
    const agent = newAccount();
    const record = await agentRecord(agent);
    const out = await checkRecord(JSON.parse(JSON.stringify(record)), {
      dhtKey: recordDhtKey("agent", record.key),
    });
    expect(out.owner).toBe(record.owner);
  });

  test("refuses a forged signature, a changed body and a key that is not the owner's", async () => {
    const agent = newAccount();
    const other = newAccount();
    const record = await agentRecord(agent);
    const forged = { ...record, signature: (await agentRecord(other)).signature };
    expect(await codeOf(checkRecord(forged))).toBe("SIGNATURE_INVALID");
    const tampered = { ...record, body: { ...record.body, subnets: ["other"] } };
    expect(await codeOf(checkRecord(tampered))).toBe("SIGNATURE_INVALID");
    const model = await modelRecord(agent, fakeModel());
    expect(await codeOf(checkRecord({ ...model, key: "other-model" }))).toBe("SIGNATURE_INVALID");
  });

  test("refuses bad schema, expired records and agent records that outlive the TTL", async () => {
    expect(await codeOf(checkRecord({ kind: "agent", key: 1 }))).toBe("INVALID_INPUT");
    const agent = newAccount();
    const expired = await agentRecord(agent, { expiresAt: Date.now() - 1 });
    expect(await codeOf(checkRecord(expired))).toBe("STALE_RECORD");
    const tooLong = await agentRecord(agent, { expiresAt: Date.now() + 10 * AGENT_RECORD_TTL_MS });
    expect(await codeOf(checkRecord(tooLong))).toBe("INVALID_INPUT");
  });

  test("refuses a record stored under another DHT key", async () => {
    const record = await subnetRecord(newAccount());
    expect(await codeOf(checkRecord(record, { dhtKey: "/ncn/subnet/other" }))).toBe("INVALID_INPUT");
    expect(await codeOf(checkRecord(record, { dhtKey: "/ncn/model/vision" }))).toBe("INVALID_INPUT");
  });

  test("refuses roll-backs, equal-seq forks and takeovers against the index", async () => {
    const index = memoryIndex();
    const owner = newAccount();
    const v2 = await subnetRecord(owner, { seq: 2 });
    index.upsert(await checkRecord(v2, { index }));
    expect(await codeOf(checkRecord(await subnetRecord(owner, { seq: 1 }), { index }))).toBe("STALE_RECORD");
    const fork = await subnetRecord(owner, { seq: 2, models: [{ id: "tiny-mlp", price: "1" }] });
    expect(await codeOf(checkRecord(fork, { index }))).toBe("CONFLICT");
    expect(await codeOf(checkRecord(v2, { index }))).toBeUndefined();
    const thief = newAccount();
    expect(await codeOf(checkRecord(await subnetRecord(thief, { seq: 3 }), { index }))).toBe("NAME_TAKEN");
    expect(await codeOf(checkRecord(await subnetRecord(owner, { seq: 3 }), { index }))).toBeUndefined();
  });

  test("with a name reader, the chain's owner decides: not the first owner seen, never an unclaimed name", async () => {
    const index = memoryIndex();
    const first = newAccount();
    const heir = newAccount();
    const owners = new Map<string, `0x${string}`>([["subnet:vision", addressOf(first)]]);
    let chainDown = false;
    const names: NameOwnerReader = {
      async ownerOf(kind, name) {
        if (chainDown) throw new Error("rpc down");
        return owners.get(`${kind}:${name}`) ?? null;
      },
    };
    index.upsert(await checkRecord(await subnetRecord(first, { seq: 1 }), { index, names }));
    expect(await codeOf(checkRecord(await subnetRecord(heir, { seq: 2 }), { index, names }))).toBe(
      "NAME_TAKEN",
    );
    // The name was handed over on chain: its new owner takes over, the old one is refused.
    owners.set("subnet:vision", addressOf(heir));
    expect(await codeOf(checkRecord(await subnetRecord(heir, { seq: 2 }), { index, names }))).toBeUndefined();
    expect(await codeOf(checkRecord(await subnetRecord(first, { seq: 3 }), { index, names }))).toBe(
      "NAME_TAKEN",
    );
    expect(await codeOf(checkRecord(await modelRecord(first, fakeModel("nobody-s")), { names }))).toBe(
      "FORBIDDEN",
    );
    // Agent records are keyed by their owner's address and need no claim.
    expect(await codeOf(checkRecord(await agentRecord(newAccount()), { names }))).toBeUndefined();
    chainDown = true;
    expect(await codeOf(checkRecord(await subnetRecord(heir, { seq: 4 }), { index, names }))).toBe(
      "UNAVAILABLE",
    );
  });

  test("the DHT selector picks the highest seq and skips garbage", async () => {
    const owner = newAccount();
    const values = [
      encodeRecord(await subnetRecord(owner, { seq: 2 })),
      new TextEncoder().encode("not json"),
      encodeRecord(await subnetRecord(owner, { seq: 7 })),
      encodeRecord(await subnetRecord(owner, { seq: 3 })),
    ];
    expect(dhtRecordSelector(new Uint8Array(), values)).toBe(2);
    expect(() => decodeRecordValue(new Uint8Array([0xff, 0xfe]))).toThrow("not UTF-8");
  });
});

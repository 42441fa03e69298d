import { afterEach, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { AGENT_RECORD_TTL_MS, ModelId, SubnetId } from "@ncn/protocol";
import * as v from "valibot";
import { openDatabase, SCHEMA_VERSION, schemaVersionOf } from "../store/database.ts";
import { tempDir } from "../test-support/cluster.ts";
import { agentRecord, newAccount, signHeartbeat, subnetRecord } from "../test-support/records.ts";
import { RecordIndex } from "./record-index.ts";

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0)) c();
});

describe("RecordIndex", () => {
  test("persists records, ownership and liveness across a reopen", async () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const path = join(dir.path, "db.sqlite");
    const agent = newAccount();
    const owner = newAccount();
    {
      const db = openDatabase(path);
      const index = new RecordIndex(db);
      expect(index.upsert(await agentRecord(agent))).toBe("inserted");
      expect(index.upsert(await subnetRecord(owner), { own: true })).toBe("inserted");
      expect(index.upsert(await subnetRecord(owner, { seq: 2 }))).toBe("updated");
      expect(index.heartbeat(await signHeartbeat(agent, { running: 3, queued: 1 }))).toBe(true);
      db.close();
    }
    const db = openDatabase(path);
    cleanups.push(() => db.close());
    expect(schemaVersionOf(db)).toBe(SCHEMA_VERSION);
    const index = new RecordIndex(db);
    expect(index.size).toBe(2);
    expect(index.get("subnet", "vision")?.record.seq).toBe(2);
    expect(index.ownRecords().map((r) => r.key)).toEqual(["vision"]);
    expect(index.livenessOf(agent.address.toLowerCase())?.load.running).toBe(3);
  });

  test("keeps the higher seq whatever the arrival order", async () => {
    const db = openDatabase(":memory:");
    cleanups.push(() => db.close());
    const index = new RecordIndex(db);
    const owner = newAccount();
    index.upsert(await subnetRecord(owner, { seq: 5 }));
    expect(index.upsert(await subnetRecord(owner, { seq: 4 }))).toBe("unchanged");
    expect(index.get("subnet", "vision")?.record.seq).toBe(5);
  });

  test("heartbeats keep an agent listed past its record's expiry; silence drops it", async () => {
    const db = openDatabase(":memory:");
    cleanups.push(() => db.close());
    const index = new RecordIndex(db);
    const agent = newAccount();
    const t0 = Date.now();
    const record = await agentRecord(agent, { expiresAt: t0 + 1_000, subnets: ["vision"], models: ["m1"] });
    index.upsert(record);
    const subnet = (id: string) => v.parse(SubnetId, id);
    const model = (id: string) => v.parse(ModelId, id);
    expect(index.liveAgents({ subnet: subnet("vision"), model: model("m1") }, t0).length).toBe(1);
    expect(index.liveAgents({ subnet: subnet("other") }, t0).length).toBe(0);
    expect(index.liveAgents({ model: model("m2") }, t0).length).toBe(0);
    expect(index.liveAgents({}, t0 + 2_000).length).toBe(0);
    index.heartbeat(await signHeartbeat(agent, { running: 0, queued: 0 }, t0 + 1_500));
    expect(index.heartbeat(await signHeartbeat(agent, { running: 0, queued: 0 }, t0 + 1_400))).toBe(false);
    expect(index.liveAgents({}, t0 + 2_000).length).toBe(1);
    const later = t0 + 1_500 + AGENT_RECORD_TTL_MS + 1;
    expect(index.liveAgents({}, later).length).toBe(0);
    expect(index.prune(later)).toBe(1);
    expect(index.get("agent", record.key)).toBeUndefined();
    expect(index.livenessOf(record.key)).toBeUndefined();
  });

  test("past its cap the index refuses new keys from elsewhere, keeps updating known ones and takes its own", async () => {
    const db = openDatabase(":memory:");
    cleanups.push(() => db.close());
    const index = new RecordIndex(db, { maxRecords: 3 });
    const owner = newAccount();
    for (const id of ["s1", "s2", "s3"])
      expect(index.upsert(await subnetRecord(owner, { id }))).toBe("inserted");
    const flood = await subnetRecord(newAccount(), { id: "s4" });
    expect(() => index.assertAcceptable(flood)).toThrow("its most");
    expect(index.upsert(flood)).toBe("unchanged");
    expect(index.size).toBe(3);
    expect(index.get("subnet", "s4")).toBeUndefined();
    // The records held first stay their owners' and keep updating.
    expect(index.upsert(await subnetRecord(owner, { id: "s1", seq: 2 }))).toBe("updated");
    expect(index.upsert(await subnetRecord(owner, { id: "mine" }), { own: true })).toBe("inserted");
    expect(index.size).toBe(4);
    // Dead agents pruned by age make room again.
    const agent = newAccount();
    const dbs = openDatabase(":memory:");
    cleanups.push(() => dbs.close());
    const small = new RecordIndex(dbs, { maxRecords: 1 });
    const t0 = Date.now();
    small.upsert(await agentRecord(agent, { expiresAt: t0 + 1_000 }));
    expect(small.full).toBe(true);
    expect(small.prune(t0 + 1_000 + AGENT_RECORD_TTL_MS)).toBe(1);
    expect(small.upsert(await subnetRecord(owner, { id: "after" }))).toBe("inserted");
  });

  test("refuses a database from a newer schema", () => {
    const dir = tempDir();
    cleanups.push(dir.cleanup);
    const path = join(dir.path, "db.sqlite");
    const db = openDatabase(path);
    db.run("UPDATE meta SET value = '999' WHERE key = 'schema_version'");
    db.close();
    expect(() => openDatabase(path)).toThrow("newer");
  });
});

import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AttestationSig, idToBytes32, ReputationEvent } from "@ncn/protocol";
import * as v from "valibot";
import { ReputationBook } from "../reputation/reputation-book.ts";
import { AttestationStore } from "./attestation-store.ts";
import { CompletionStore } from "./completion-store.ts";
import { openDatabase } from "./database.ts";
import { PreattestationStore } from "./preattestation-store.ts";
import { ReceiptStore } from "./receipt-store.ts";

const dbs: ReturnType<typeof openDatabase>[] = [];
afterEach(() => {
  for (const db of dbs.splice(0)) db.close();
});
function db() {
  const d = openDatabase(":memory:");
  dbs.push(d);
  return d;
}
const agentA = `0x${"aa".repeat(20)}` as const;
const agentB = `0x${"bb".repeat(20)}` as const;
const gateway = `0x${"cc".repeat(20)}` as const;
const session = `0x${"dd".repeat(32)}` as const;

describe("what a validator keeps of what it checked", () => {
  test("pre-attested terms are kept per request and agent, and forgotten once their deadline is long past", () => {
    const store = new PreattestationStore(db());
    const requestId = idToBytes32("r-1");
    const terms = { requestId, subnet: "vision", model: "m", price: 100n, sessionId: session, gateway };
    store.save({ ...terms, agent: agentA, deadline: 1_000 });
    store.save({ ...terms, agent: agentB, deadline: 5_000, sessionId: null });
    expect(store.get(requestId, agentA)).toEqual({ ...terms, agent: agentA, deadline: 1_000 });
    expect(store.get(requestId, agentB)?.sessionId).toBeNull();
    expect(store.prune(2_000)).toBe(1);
    expect(store.get(requestId, agentA)).toBeUndefined();
    expect(store.get(requestId, agentB)?.deadline).toBe(5_000);
  });

  test("the completion of a request id is read back with its attestation, alone or under a batch root", () => {
    const d = db();
    const receipts = new ReceiptStore(d);
    const completions = new CompletionStore(d);
    const attestation = {
      validator: agentA,
      phase: 1,
      subject: `0x${"05".repeat(32)}`,
      outputHash: `0x${"06".repeat(32)}`,
      signature: `0x${"07".repeat(65)}`,
    } as AttestationSig;
    const alone = { digest: `0x${"08".repeat(32)}`, requestId: idToBytes32("alone") } as const;
    const batched = { digest: `0x${"09".repeat(32)}`, requestId: idToBytes32("batched") } as const;
    const root = `0x${"0a".repeat(32)}` as const;
    receipts.add(
      { ...alone, agent: agentA, price: 1n, sessionId: null },
      { receiptsRoot: null, attestation },
    );
    receipts.addBatchAttestation(root, { ...attestation, subject: root as AttestationSig["subject"] });
    receipts.add({ ...batched, agent: agentA, price: 1n, sessionId: session }, { receiptsRoot: root });
    expect(completions.get(alone.requestId)).toEqual({ ...alone, receiptsRoot: null, attestation });
    const many = completions.getMany([alone.requestId, batched.requestId, idToBytes32("never")]);
    expect([...many.keys()].sort()).toEqual([alone.requestId, batched.requestId].sort());
    expect(many.get(batched.requestId)?.attestation?.subject).toBe(root as AttestationSig["subject"]);
  });

  test("a request id held for one receipt cannot be held for another until released", () => {
    const store = new CompletionStore(db());
    const requestId = idToBytes32("r-2");
    const [one, two] = [`0x${"01".repeat(32)}`, `0x${"02".repeat(32)}`] as const;
    expect(store.hold(requestId, one)).toBeUndefined();
    expect(store.hold(requestId, one)).toBeUndefined();
    expect(store.hold(requestId, two)).toBe(one);
    store.release(requestId);
    expect(store.hold(requestId, two)).toBe(one);
    store.release(requestId);
    expect(store.hold(requestId, two)).toBeUndefined();
  });

  test("receipts keep their session; a batch claims them until it is released, or settles them for good", () => {
    const store = new ReceiptStore(db());
    const digest = `0x${"03".repeat(32)}` as const;
    const root = { receiptsRoot: `0x${"0f".repeat(32)}` as const };
    store.add(
      { digest, requestId: idToBytes32("r-3"), agent: agentA, price: 100n, sessionId: session },
      root,
    );
    // A second record of the same receipt keeps the first (its session cannot be changed)...
    store.add({ digest, requestId: idToBytes32("r-3"), agent: agentA, price: 100n, sessionId: null }, root);
    expect(store.get(digest)?.sessionId).toBe(session);
    // ...and another receipt for the same request id is not recorded at all.
    const other = `0x${"04".repeat(32)}` as const;
    store.add(
      { digest: other, requestId: idToBytes32("r-3"), agent: agentB, price: 100n, sessionId: session },
      root,
    );
    expect(store.get(other)).toBeUndefined();
    const b1 = { gateway, batchId: `0x${"b1".repeat(32)}` as const };
    const b2 = { gateway, batchId: `0x${"b2".repeat(32)}` as const };
    store.claim(b1, "content-1", [digest]);
    expect(store.get(digest)?.claim).toEqual(b1);
    expect(store.batchContent(b1)).toBe("content-1");
    store.release(b1);
    expect(store.get(digest)?.claim).toBeNull();
    store.claim(b2, "content-2", [digest]);
    store.markSettled(b2);
    store.release(b2);
    expect(store.get(digest)).toMatchObject({ claim: b2, settled: true });
  });

  test("a node's receipts from before the one-completion rule keep the first per request id, with no attestation to replay", () => {
    const dir = mkdtempSync(join(tmpdir(), "ncn-migrate-"));
    try {
      const path = join(dir, "registry.sqlite");
      const old = new Database(path, { create: true, strict: true });
      old.run("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)");
      old.run("INSERT INTO meta (key, value) VALUES ('schema_version', '2')");
      old.run(`CREATE TABLE attested_receipts (digest TEXT PRIMARY KEY, request_id TEXT NOT NULL, agent TEXT NOT NULL,
        price TEXT NOT NULL, created_at INTEGER NOT NULL)`);
      // Later migrations index these tables of schema 1.
      old.run("CREATE TABLE attestations (request_id TEXT NOT NULL, created_at INTEGER NOT NULL)");
      old.run("CREATE TABLE reputation_events (id TEXT PRIMARY KEY, at INTEGER NOT NULL)");
      const requestId = idToBytes32("twice");
      for (const digest of [`0x${"11".repeat(32)}`, `0x${"12".repeat(32)}`]) {
        old.run("INSERT INTO attested_receipts VALUES (?1, ?2, ?3, '100', 1)", [digest, requestId, agentA]);
      }
      old.close();
      const migrated = openDatabase(path);
      dbs.push(migrated);
      const first = new CompletionStore(migrated).get(requestId);
      expect(first).toEqual({
        requestId,
        digest: `0x${"11".repeat(32)}`,
        receiptsRoot: null,
        attestation: null,
      });
      expect(new ReceiptStore(migrated).get(`0x${"12".repeat(32)}`)).toBeUndefined();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("stores an outsider can fill are pruned by age and capped", () => {
  const attestation = (i: number) =>
    ({
      validator: agentA,
      phase: 1,
      subject: `0x${i.toString(16).padStart(64, "0")}`,
      outputHash: `0x${"06".repeat(32)}`,
      signature: `0x${"07".repeat(65)}`,
    }) as AttestationSig;

  test("attestations: old ones go, and past the cap the oldest go first", () => {
    const store = new AttestationStore(db());
    for (let i = 0; i < 50; i++) store.save(idToBytes32(`a-${i}`), attestation(i), 1_000 + i);
    expect(store.prune(1_010, 1_000)).toBe(10);
    expect(store.count()).toBe(40);
    expect(store.list(idToBytes32("a-9"))).toEqual([]);
    expect(store.prune(0, 25)).toBe(15);
    expect(store.count()).toBe(25);
    expect(store.list(idToBytes32("a-24"))).toEqual([]);
    expect(store.list(idToBytes32("a-25")).length).toBe(1);
    expect(store.list(idToBytes32("a-49")).length).toBe(1);
    // Past the cap again: the count comes back to the cap on the next prune, newest kept.
    for (let i = 50; i < 80; i++) store.save(idToBytes32(`a-${i}`), attestation(i), 1_000 + i);
    store.prune(0, 25);
    expect(store.count()).toBe(25);
    expect(store.list(idToBytes32("a-79")).length).toBe(1);
  });

  test("pre-attested terms with a far deadline still go once saved long ago, and are capped", () => {
    const store = new PreattestationStore(db());
    const terms = { subnet: "vision", model: "m", price: 1n, sessionId: null, gateway, agent: agentA };
    const farAway = Date.now() + 365 * 24 * 3600_000;
    for (let i = 0; i < 30; i++)
      store.save({ ...terms, requestId: idToBytes32(`p-${i}`), deadline: farAway }, 100 + i);
    // The deadline rule alone keeps them all.
    expect(store.prune(Date.now())).toBe(0);
    expect(store.pruneSaved(110, 1_000)).toBe(10);
    expect(store.get(idToBytes32("p-9"), agentA)).toBeUndefined();
    expect(store.pruneSaved(0, 5)).toBe(15);
    expect(store.get(idToBytes32("p-24"), agentA)).toBeUndefined();
    expect(store.get(idToBytes32("p-25"), agentA)?.deadline).toBe(farAway);
  });

  test("reputation event ids are forgotten by arrival time and capped; the reputation they built stays", () => {
    const book = new ReputationBook(db());
    const event = (i: number, at: number) =>
      v.parse(ReputationEvent, { id: `ev-${i}`, agent: agentA, kind: "success", at });
    // An event written long ago by its reporter but received now is kept for the window.
    for (let i = 0; i < 20; i++) book.apply(event(i, 1), gateway, 1_000 + i);
    expect(book.pruneEvents(1_005, 1_000)).toBe(5);
    expect(book.has("ev-4")).toBe(false);
    expect(book.has("ev-5")).toBe(true);
    expect(book.pruneEvents(0, 10)).toBe(5);
    expect(book.has("ev-9")).toBe(false);
    expect(book.has("ev-10")).toBe(true);
    expect(book.get(agentA).successes).toBe(20);
  });
});

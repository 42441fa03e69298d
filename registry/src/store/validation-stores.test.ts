import { Database } from "bun:sqlite";
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type AttestationSig, idToBytes32 } from "@ncn/protocol";
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

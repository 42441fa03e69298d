import { afterEach, describe, expect, test } from "bun:test";
import { idToBytes32 } from "@ncn/protocol";
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
    store.add({ digest, requestId: idToBytes32("r-3"), agent: agentA, price: 100n, sessionId: session });
    // A second record of the same receipt keeps the first (its session cannot be changed).
    store.add({ digest, requestId: idToBytes32("r-3"), agent: agentA, price: 100n, sessionId: null });
    expect(store.get(digest)?.sessionId).toBe(session);
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
});

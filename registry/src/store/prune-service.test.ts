import { afterEach, describe, expect, test } from "bun:test";
import { quietLogger } from "../test-support/cluster.ts";
import { type PruneService, pruneService } from "./prune-service.ts";

const services: PruneService[] = [];
afterEach(() => {
  for (const s of services.splice(0)) s.stop();
});

/** A pruning job over stores that count the calls and what `now` each was pruned as of. */
function job(intervalMs: number) {
  const calls: { store: string; before: number }[] = [];
  const count = (store: string, lost: number) => (before: number) => {
    calls.push({ store, before });
    return lost;
  };
  const service = pruneService({ intervalMs })({
    index: { prune: count("records", 2) },
    mempool: { prune: count("mempool", 1) },
    preattested: { prune: count("preattested", 3), pruneSaved: count("preattestedSaved", 4) },
    attestations: { prune: count("attestations", 0) },
    reputationBook: { pruneEvents: count("reputationEvents", 5) },
    logger: quietLogger(),
  });
  services.push(service);
  return { service, calls };
}

describe("the store pruning job", () => {
  test("one pruning reaches every store, each as of its own horizon, and says what each lost", () => {
    const { service, calls } = job(60_000);
    const now = 1_000_000_000_000;
    expect(service.prune(now)).toEqual({
      records: 2,
      mempool: 1,
      preattested: 7,
      attestations: 0,
      reputationEvents: 5,
    });
    expect(calls.map((c) => c.store)).toEqual([
      "records",
      "mempool",
      "preattested",
      "preattestedSaved",
      "attestations",
      "reputationEvents",
    ]);
    // The index and the mempool drop what expired by now; the rest keep a window before it.
    expect(calls.filter((c) => c.before === now).map((c) => c.store)).toEqual(["records", "mempool"]);
    expect(calls.filter((c) => c.before < now)).toHaveLength(4);
  });

  test("runs on its schedule while started, and not at all once stopped; start and stop are idempotent", async () => {
    const { service, calls } = job(20);
    expect(service.running).toBe(false);
    service.start();
    service.start();
    expect(service.running).toBe(true);
    await Bun.sleep(110);
    const runs = calls.filter((c) => c.store === "records").length;
    // One timer, not two: about 5 runs in 110 ms at 20 ms.
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(6);
    service.stop();
    service.stop();
    expect(service.running).toBe(false);
    const after = calls.length;
    await Bun.sleep(80);
    expect(calls.length).toBe(after);
  });
});

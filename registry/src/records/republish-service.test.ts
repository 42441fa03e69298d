import { afterEach, describe, expect, test } from "bun:test";
import { quietLogger } from "../test-support/cluster.ts";
import { type RepublishService, republishService } from "./republish-service.ts";

const services: RepublishService[] = [];
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop();
});

/** A republish job over a routing table the test fills, and a record service that counts. */
function job(init: { intervalMs?: number; firstWaitMs?: number }, republishMs = 0) {
  const routingTable = { size: 0 };
  const signals: AbortSignal[] = [];
  let finished = 0;
  const service = republishService(init)({
    records: {
      async republishOwn(signal) {
        if (signal) signals.push(signal);
        await Bun.sleep(republishMs);
        finished++;
        return 1;
      },
    },
    dht: { routingTable },
    logger: quietLogger(),
  });
  services.push(service);
  return { service, routingTable, signals, finished: () => finished };
}

describe("the republish job", () => {
  test("waits for a first peer in the routing table before putting own records back", async () => {
    const { service, routingTable, signals } = job({ intervalMs: 60_000 });
    service.start();
    await Bun.sleep(250);
    expect(signals).toHaveLength(0);
    routingTable.size = 1;
    await Bun.sleep(250);
    expect(signals).toHaveLength(1);
  });

  test("a lone node stops waiting after firstWaitMs, then repeats every intervalMs", async () => {
    const { service, signals } = job({ intervalMs: 40, firstWaitMs: 50 });
    service.start();
    await Bun.sleep(320);
    // The first after ~100 ms (the table is polled every 100 ms), and one every 40 ms from the start.
    expect(signals.length).toBeGreaterThanOrEqual(3);
  });

  test("stop ends the schedule, aborts a republish under way and waits for it; stop is idempotent", async () => {
    const { service, routingTable, signals, finished } = job({ intervalMs: 60_000 }, 150);
    routingTable.size = 1;
    service.start();
    service.start();
    expect(service.running).toBe(true);
    await Bun.sleep(20);
    expect(signals).toHaveLength(1);
    await service.stop();
    expect(finished()).toBe(1);
    expect(signals[0]?.aborted).toBe(true);
    expect(service.running).toBe(false);
    await service.stop();
    await Bun.sleep(150);
    expect(signals).toHaveLength(1);
  });

  test("a failing republish is logged, not thrown, and the schedule goes on", async () => {
    const routingTable = { size: 1 };
    let calls = 0;
    const service = republishService({ intervalMs: 30 })({
      records: {
        async republishOwn() {
          calls++;
          throw new Error("DHT gone");
        },
      },
      dht: { routingTable },
      logger: quietLogger(),
    });
    services.push(service);
    service.start();
    await Bun.sleep(120);
    expect(calls).toBeGreaterThanOrEqual(3);
  });
});

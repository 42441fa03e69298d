import { describe, expect, test } from "bun:test";
import type { Startable } from "@libp2p/interface";
import { startInOrder, stopInReverse } from "./lifecycle.ts";

/** A service that writes its start and stop into `log`, and fails where told to. */
function service(name: string, log: string[], fail: { start?: boolean; stop?: boolean } = {}): Startable {
  return {
    async start() {
      await Bun.sleep(1);
      if (fail.start) throw new Error(`${name} cannot start`);
      log.push(`start ${name}`);
    },
    stop() {
      if (fail.stop) throw new Error(`${name} cannot stop`);
      log.push(`stop ${name}`);
    },
  };
}

describe("service lifecycle", () => {
  test("services start one after another in order and stop in reverse", async () => {
    const log: string[] = [];
    const services = ["libp2p", "gossip", "api"].map((n) => service(n, log));
    await startInOrder(services);
    await stopInReverse(services);
    expect(log).toEqual([
      "start libp2p",
      "start gossip",
      "start api",
      "stop api",
      "stop gossip",
      "stop libp2p",
    ]);
  });

  test("when one fails to start, those started before it are stopped in reverse and the error is thrown", async () => {
    const log: string[] = [];
    const services = [
      service("a", log),
      service("b", log),
      service("c", log, { start: true }),
      service("d", log),
    ];
    await expect(startInOrder(services)).rejects.toThrow("c cannot start");
    expect(log).toEqual(["start a", "start b", "stop b", "stop a"]);
  });

  test("a service that fails to stop does not keep the others running; its error comes last", async () => {
    const log: string[] = [];
    const services = [service("a", log), service("b", log, { stop: true }), service("c", log)];
    await expect(stopInReverse(services)).rejects.toThrow("b cannot stop");
    expect(log).toEqual(["stop c", "stop a"]);
  });
});

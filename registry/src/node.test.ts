import { afterAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { generatePrivateKey } from "viem/accounts";
import { TOPICS } from "./constants.ts";
import { startTestNode, tempDir } from "./test-support/cluster.ts";

const dir = tempDir();
afterAll(() => dir.cleanup());

describe("a registry node's lifecycle", () => {
  test("a started validator node serves, gossips on every topic and holds its own record", async () => {
    const node = await startTestNode(join(dir.path, "serving"), {
      config: { validatorKey: generatePrivateKey() },
    });
    try {
      expect((await fetch(`${node.url}/health`)).status).toBe(200);
      expect(node.libp2p.services.pubsub.getTopics().sort()).toEqual([...TOPICS].sort());
      expect(node.index.ownRecords().map((r) => r.kind)).toEqual(["validator"]);
    } finally {
      await node.stop();
    }
  });

  test("stop leaves nothing running (server, libp2p, database) and is idempotent", async () => {
    const node = await startTestNode(join(dir.path, "stopping"), {
      config: { validatorKey: generatePrivateKey() },
    });
    const first = node.stop();
    expect(node.stop()).toBe(first);
    await first;
    await node.stop();
    expect(node.libp2p.status).toBe("stopped");
    expect(() => node.db.query("SELECT 1").get()).toThrow();
    await expect(fetch(`${node.url}/health`)).rejects.toThrow();
  });

  test("a node that cannot start releases what it opened: its libp2p port and data folder start again", async () => {
    const taken = await startTestNode(join(dir.path, "taken"));
    const dataDir = join(dir.path, "second");
    const probe = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    const listen = [`/ip4/127.0.0.1/tcp/${probe.port}`];
    probe.stop(true);
    try {
      // libp2p starts listening, then the HTTP port is found taken.
      const port = Number(new URL(taken.url).port);
      await expect(startTestNode(dataDir, { config: { httpPort: port, listen } })).rejects.toThrow();
    } finally {
      await taken.stop();
    }
    const again = await startTestNode(dataDir, { config: { listen } });
    expect(again.multiaddrs()[0]).toStartWith(listen[0] ?? "");
    expect((await fetch(`${again.url}/health`)).status).toBe(200);
    await again.stop();
  });
});

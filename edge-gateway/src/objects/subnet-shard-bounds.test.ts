import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AGENT_LIMITS, MAX_HELLO_BYTES, Sha256 } from "@ncn/protocol";
import * as v from "valibot";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type GatewayHandle, startGateway } from "../local.ts";
import { TestAgentPeer } from "../testing/agent-client.ts";

// Agent rows are bounded: a hello carries limited fields, rows of agents gone longer than
// AGENT_ROW_TTL_MS are pruned, and a shard keeps at most MAX_AGENTS_PER_SHARD of them.
const registry = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) =>
    new URL(req.url).pathname === "/v1/agents"
      ? Response.json({ agents: [] })
      : new Response("not found", { status: 404 }),
});

const MAX_AGENTS = 4;
const VARS = {
  CHAIN_ID: "31337",
  RPC_URL: "http://127.0.0.1:9",
  PAYMENT_CONTRACT: `0x${"11".repeat(20)}`,
  VALIDATOR_REGISTRY: `0x${"12".repeat(20)}`,
  TOKEN_CONTRACT: `0x${"13".repeat(20)}`,
  REGISTRY_URLS: `http://127.0.0.1:${registry.port}`,
  GATEWAY_PRIVATE_KEY: `0x${"22".repeat(32)}`,
  AGENT_ROW_TTL_MS: "1000",
  MAX_AGENTS_PER_SHARD: String(MAX_AGENTS),
};

let gw: GatewayHandle;
beforeAll(async () => {
  gw = await startGateway(VARS);
}, 60_000);
afterAll(async () => {
  await gw.stop();
  registry.stop(true);
});

async function rows(subnet: string): Promise<{ address: string; connected: boolean }[]> {
  const ns = await gw.mf.getDurableObjectNamespace("SUBNET");
  const stub = ns.get(ns.idFromName(`${subnet}:0`)) as unknown as {
    agents(): Promise<{ address: string; connected: boolean }[]>;
  };
  return (await stub.agents()).map((a) => ({ address: a.address, connected: a.connected }));
}

function hashes(n: number): Sha256[] {
  return Array.from({ length: n }, (_, i) => v.parse(Sha256, `0x${i.toString(16).padStart(64, "0")}`));
}

/** Says hello with these capabilities and returns the first error frame and the close. */
async function refusedHello(subnet: string, capabilities: ConstructorParameters<typeof TestAgentPeer>[1]) {
  const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()), capabilities);
  await peer.connect(gw.url, subnet);
  const error = await peer.waitFor((f) => f.type === "error");
  const closed = await peer.waitClosed(10_000);
  return { peer, error, closed };
}

async function until(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe("agent rows are bounded (Subnet shard in workerd)", () => {
  test("a hello listing 10,000 cached models is refused before it is read, and stores nothing", async () => {
    const { peer, error, closed } = await refusedHello("bounds-a", {
      capabilities: { cachedModels: hashes(10_000) },
    });
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(closed.code).toBe(1009);
    expect(peer.frames.some((f) => f.type === "welcome")).toBe(false);
    expect(await rows("bounds-a")).toEqual([]);
  });

  test("a hello with a 1 MB version string is refused with a typed error and a close", async () => {
    const { error, closed } = await refusedHello("bounds-a", {
      capabilities: { version: "x".repeat(1024 * 1024) },
    });
    expect(error.code).toBe("PAYLOAD_TOO_LARGE");
    expect(String(error.message)).toContain(String(MAX_HELLO_BYTES));
    expect(closed.code).toBe(1009);
    expect(await rows("bounds-a")).toEqual([]);
  });

  test("a small hello over a field limit is refused by the schema, naming the field", async () => {
    const many = await refusedHello("bounds-a", {
      capabilities: { cachedModels: hashes(AGENT_LIMITS.cachedModels + 1) },
    });
    expect(many.error.code).toBe("FRAME_INVALID");
    expect(String(many.error.message)).toContain("cachedModels");
    expect(many.closed.code).toBe(4002);

    const long = await refusedHello("bounds-a", {
      capabilities: { version: "v".repeat(AGENT_LIMITS.version + 1) },
    });
    expect(long.error.code).toBe("FRAME_INVALID");
    expect(String(long.error.message)).toContain("version");
    expect(long.closed.code).toBe(4002);
    expect(await rows("bounds-a")).toEqual([]);

    // At the limits, the same hello is welcomed.
    const ok = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()), {
      capabilities: {
        cachedModels: hashes(AGENT_LIMITS.cachedModels),
        version: "v".repeat(AGENT_LIMITS.version),
      },
    });
    await ok.connect(gw.url, "bounds-a");
    await ok.waitFor((f) => f.type === "welcome");
    expect((await rows("bounds-a")).map((r) => r.address)).toEqual([ok.account.address.toLowerCase()]);
    ok.close();
  });

  test("many agents connecting and leaving leave no rows once pruned", async () => {
    for (let round = 0; round < 5; round++) {
      const peers = [];
      for (let i = 0; i < MAX_AGENTS; i++) {
        const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
        await peer.connect(gw.url, "bounds-b");
        await peer.waitFor((f) => f.type === "welcome");
        peers.push(peer);
      }
      expect((await rows("bounds-b")).length).toBeLessThanOrEqual(MAX_AGENTS);
      for (const p of peers) p.close();
    }
    // The shard's alarm prunes rows gone longer than AGENT_ROW_TTL_MS (1 s here).
    expect(await until(async () => (await rows("bounds-b")).length === 0, 30_000)).toBe(true);
  }, 60_000);

  test("past MAX_AGENTS_PER_SHARD connected agents a hello is refused; a leaving agent makes room", async () => {
    const peers = [];
    for (let i = 0; i < MAX_AGENTS; i++) {
      const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
      await peer.connect(gw.url, "bounds-c");
      await peer.waitFor((f) => f.type === "welcome");
      peers.push(peer);
    }
    const { error, closed } = await refusedHello("bounds-c", {});
    expect(error.code).toBe("UNAVAILABLE");
    expect(closed.code).toBe(4029);
    expect((await rows("bounds-c")).length).toBe(MAX_AGENTS);

    peers[0]?.close();
    const next = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
    // The leaving agent's row goes when its close is seen: retry until then.
    expect(
      await until(async () => {
        const attempt = new TestAgentPeer(next.account);
        await attempt.connect(gw.url, "bounds-c");
        await attempt.waitFor((f) => f.type === "welcome" || f.type === "error");
        const welcomed = attempt.frames.some((f) => f.type === "welcome");
        if (!welcomed) await attempt.waitClosed();
        return welcomed;
      }, 15_000),
    ).toBe(true);
    const listed = await rows("bounds-c");
    expect(listed.length).toBe(MAX_AGENTS);
    expect(listed.some((r) => r.address === next.account.address.toLowerCase())).toBe(true);
    for (const p of peers) p.close();
  }, 60_000);
});

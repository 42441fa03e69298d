import { afterAll, beforeAll, expect, test } from "bun:test";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type GatewayHandle, startGateway } from "../local.ts";
import { TestAgentPeer } from "../testing/agent-client.ts";

const good = privateKeyToAccount(generatePrivateKey());
const bad = privateKeyToAccount(generatePrivateKey());
// A registry node's reputation listing, served on loopback.
const registry = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) => {
    const path = new URL(req.url).pathname;
    if (path === "/v1/reputation") {
      return Response.json({
        agents: [
          { agent: good.address.toLowerCase(), score: 40 },
          { agent: bad.address.toLowerCase(), score: -5 },
        ],
      });
    }
    // Both are alive and above the default minimum (-10): admitted, ranked by score.
    if (path === "/v1/agents") {
      return Response.json({
        agents: [
          { address: good.address, aliveUntil: Date.now() + 60_000, reputation: { score: 40 } },
          { address: bad.address, aliveUntil: Date.now() + 60_000, reputation: { score: -5 } },
        ],
      });
    }
    return new Response("not found", { status: 404 });
  },
});
let gw: GatewayHandle;

beforeAll(async () => {
  gw = await startGateway({
    CHAIN_ID: "31337",
    RPC_URL: "http://127.0.0.1:9",
    PAYMENT_CONTRACT: `0x${"11".repeat(20)}`,
    VALIDATOR_REGISTRY: `0x${"12".repeat(20)}`,
    TOKEN_CONTRACT: `0x${"13".repeat(20)}`,
    REGISTRY_URLS: `http://127.0.0.1:${registry.port}`,
    GATEWAY_PRIVATE_KEY: `0x${"22".repeat(32)}`,
  });
});
afterAll(async () => {
  await gw.stop();
  registry.stop(true);
});

test("scheduling prefers the agent the validators rate higher", async () => {
  const peers = [new TestAgentPeer(bad), new TestAgentPeer(good)];
  for (const p of peers) {
    await p.connect(gw.url, "rep");
    await p.waitFor((f) => f.type === "welcome");
  }
  const ns = await gw.mf.getDurableObjectNamespace("SUBNET");
  const shard = ns.get(ns.idFromName("rep:0")) as unknown as {
    dispatch(task: unknown, needs: unknown, exclude: string[]): Promise<{ agent: string | null }>;
    cancel(taskId: string, reason: string): Promise<void>;
    agents(): Promise<{ address: string; reputation: number }[]>;
  };
  const task = (id: string) => ({
    type: "task",
    taskId: `${id}:1`,
    requestId: id,
    subnet: "rep",
    model: {
      id: "tiny",
      sha256: `0x${"ab".repeat(32)}`,
      size: 10,
      runtime: "onnx",
      sources: ["file:/x.onnx"],
      inputs: [],
      outputs: [],
    },
    price: "1",
    deadline: Date.now() + 30_000,
    kind: "tensor",
    inputs: {},
  });
  const needs = { runtime: "onnx", modelHashes: [] };
  // The first dispatch starts the background refresh of the reputation snapshot (admission
  // was read when the agents said hello).
  let first = await shard.dispatch(task("warm"), needs, []);
  for (let i = 0; i < 50 && !first.agent; i++) {
    await new Promise((r) => setTimeout(r, 50));
    first = await shard.dispatch(task("warm"), needs, []);
  }
  await shard.cancel("warm:1", "test");
  const deadline = Date.now() + 5000;
  while ((await shard.agents()).every((a) => a.reputation === 0) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  expect(first.agent).not.toBeNull();
  const scores = Object.fromEntries((await shard.agents()).map((a) => [a.address, a.reputation]));
  expect(scores[good.address.toLowerCase()]).toBe(40);
  expect(scores[bad.address.toLowerCase()]).toBe(-5);
  const picked = await shard.dispatch(task("r1"), needs, []);
  expect(picked.agent).toBe(good.address.toLowerCase());
  for (const p of peers) p.close();
}, 30_000);

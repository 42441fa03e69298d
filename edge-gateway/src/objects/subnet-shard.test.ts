import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { type GatewayHandle, startGateway } from "../local.ts";
import { TestAgentPeer } from "../testing/agent-client.ts";

/** Agents the registry stand-in lists as alive (what a registry node answers on `/v1/agents`). */
const listed = new Set<string>();
/** While false the registry stand-in answers 503 (a registry outage). */
let registryUp = true;
const registry = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  fetch: (req) =>
    !registryUp
      ? new Response("unavailable", { status: 503 })
      : new URL(req.url).pathname === "/v1/agents"
        ? Response.json({
            agents: [...listed].map((address) => ({
              address,
              aliveUntil: Date.now() + 60_000,
              reputation: { score: 0 },
            })),
          })
        : new Response("not found", { status: 404 }),
});

const VARS = {
  CHAIN_ID: "31337",
  RPC_URL: "http://127.0.0.1:9",
  PAYMENT_CONTRACT: `0x${"11".repeat(20)}`,
  VALIDATOR_REGISTRY: `0x${"12".repeat(20)}`,
  TOKEN_CONTRACT: `0x${"13".repeat(20)}`,
  REGISTRY_URLS: `http://127.0.0.1:${registry.port}`,
  GATEWAY_PRIVATE_KEY: `0x${"22".repeat(32)}`,
};

let gw: GatewayHandle;
beforeAll(async () => {
  gw = await startGateway(VARS);
});
afterAll(async () => {
  await gw.stop();
  registry.stop(true);
});

/** A connected peer, listed by the registry (admitted) or not. */
async function agentPeer(subnet: string, admitted: boolean): Promise<TestAgentPeer> {
  const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
  if (admitted) listed.add(peer.account.address.toLowerCase());
  await peer.connect(gw.url, subnet);
  await peer.waitFor((f) => f.type === "welcome");
  return peer;
}

/** Dispatches until an agent takes the task or `ms` passed (admission is read in the background). */
function dispatchWithin(subnet: string, requestId: string, ms: number): Promise<string | null> {
  return dispatchOn(gw, subnet, requestId, ms);
}

/** `dispatchWithin` on a given gateway. */
async function dispatchOn(
  on: GatewayHandle,
  subnet: string,
  requestId: string,
  ms: number,
): Promise<string | null> {
  const s = await shard(subnet, on);
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await s.dispatch(task(requestId), { runtime: "onnx", modelHashes: [] }, []);
    if (r.agent || Date.now() > deadline) return r.agent;
    await new Promise((res) => setTimeout(res, 100));
  }
}

async function shard(subnet: string, on: GatewayHandle = gw) {
  const ns = await on.mf.getDurableObjectNamespace("SUBNET");
  return ns.get(ns.idFromName(`${subnet}:0`)) as unknown as {
    agents(): Promise<{ address: string; connected: boolean; running: number }[]>;
    dispatch(task: unknown, needs: unknown, exclude: string[]): Promise<{ agent: string | null }>;
  };
}

function task(requestId: string, deadline = Date.now() + 30_000) {
  return {
    type: "task",
    taskId: `${requestId}:1`,
    requestId,
    subnet: "hub",
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
    deadline,
    kind: "tensor",
    inputs: {},
  };
}

describe("agent hub (Subnet shard in workerd)", () => {
  test("challenge-response: a correctly signed hello is welcomed and listed", async () => {
    const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
    await peer.connect(gw.url, "hub");
    const challenge = await peer.waitFor((f) => f.type === "challenge");
    expect(challenge.chainId).toBe(31337);
    expect(challenge.verifyingContract).toBe(VARS.PAYMENT_CONTRACT);
    const welcome = await peer.waitFor((f) => f.type === "welcome");
    expect(welcome.agent).toBe(peer.account.address.toLowerCase());
    const agents = await (await shard("hub")).agents();
    expect(agents.find((a) => a.address === peer.account.address.toLowerCase())?.connected).toBe(true);
    peer.close();
  });

  test("a hello signed by another key is refused and the socket closed", async () => {
    const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()), {
      signWith: privateKeyToAccount(generatePrivateKey()),
    });
    await peer.connect(gw.url, "hub");
    const err = await peer.waitFor((f) => f.type === "error");
    expect(err.code).toBe("UNAUTHORIZED");
    expect((await peer.waitClosed()).code).toBe(4003);
  });

  test("bad frames get FRAME_INVALID naming the problem; the link survives", async () => {
    const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()));
    await peer.connect(gw.url, "hub");
    await peer.waitFor((f) => f.type === "welcome");
    peer.send("not json");
    peer.send({ type: "teleport" });
    peer.send({ type: "heartbeat", load: { running: -1, queued: 0 } });
    const errors = async (n: number) => {
      const deadline = Date.now() + 5000;
      while (peer.frames.filter((f) => f.type === "error").length < n && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      return peer.frames.filter((f) => f.type === "error");
    };
    const errs = await errors(3);
    expect(errs.map((e) => e.code)).toEqual(["FRAME_INVALID", "FRAME_INVALID", "FRAME_INVALID"]);
    expect(String(errs[0]?.message)).toContain("not valid JSON");
    expect(String(errs[2]?.message)).toContain("load.running");
    peer.send({ type: "heartbeat", load: { running: 0, queued: 0 } });
    expect(peer.closed).toBeUndefined();
    peer.close();
  });

  test("an agent the registry does not list gets no work, however free it says it is", async () => {
    const stranger = await agentPeer("admit", false);
    expect(await dispatchWithin("admit", "adm-1", 1500)).toBeNull();
    expect(stranger.frames.some((f) => f.type === "task")).toBe(false);
    // Once the registry lists it (alive, in the subnet, reputation high enough), it is admitted.
    listed.add(stranger.account.address.toLowerCase());
    expect(await dispatchWithin("admit", "adm-2", 8000)).toBe(stranger.account.address.toLowerCase());
    await stranger.waitFor((f) => f.type === "task");
    stranger.close();
  }, 20_000);

  test("admissions outlive the object: a restarted gateway admits the agents it admitted while the registry is down", async () => {
    const persistDir = mkdtempSync(join(tmpdir(), "ncn-shard-admit-"));
    const account = privateKeyToAccount(generatePrivateKey());
    listed.add(account.address.toLowerCase());
    let first: GatewayHandle | undefined = await startGateway(VARS, { persistDir });
    let second: GatewayHandle | undefined;
    try {
      const peer = new TestAgentPeer(account);
      await peer.connect(first.url, "restart");
      await peer.waitFor((f) => f.type === "welcome");
      const before = await dispatchOn(first, "restart", "rs-1", 8000);
      expect(before).toBe(account.address.toLowerCase());
      peer.close();
      // Every object starts afresh (as after an eviction), and no registry node answers:
      // only what the shard stored can admit the agent.
      registryUp = false;
      await first.stop();
      first = undefined;
      second = await startGateway(VARS, { persistDir });
      const again = new TestAgentPeer(account);
      await again.connect(second.url, "restart");
      await again.waitFor((f) => f.type === "welcome");
      expect(await dispatchOn(second, "restart", "rs-2", 1500)).toBe(account.address.toLowerCase());
      again.close();
    } finally {
      registryUp = true;
      await first?.stop();
      await second?.stop();
      rmSync(persistDir, { recursive: true, force: true });
    }
  }, 60_000);

  test("dispatch sends the task to a connected agent; a disconnect frees the reservation", async () => {
    const peer = await agentPeer("solo", true);
    const s = await shard("solo");
    const r = { agent: await dispatchWithin("solo", "req-1", 3000) };
    expect(r.agent).toBe(peer.account.address.toLowerCase());
    const got = await peer.waitFor((f) => f.type === "task");
    expect(got.taskId).toBe("req-1:1");
    expect((await s.agents())[0]?.running).toBe(1);
    // An excluded agent (already tried) is never picked again.
    expect(
      (await s.dispatch(task("req-2"), { runtime: "onnx", modelHashes: [] }, [r.agent ?? ""])).agent,
    ).toBeNull();
    peer.close();
    const deadline = Date.now() + 5000;
    let agents = await s.agents();
    while (agents[0]?.connected && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
      agents = await s.agents();
    }
    expect(agents[0]?.connected).toBe(false);
    expect(agents[0]?.running).toBe(0);
    expect((await s.dispatch(task("req-3"), { runtime: "onnx", modelHashes: [] }, [])).agent).toBeNull();
  });

  test("an agent that serves other subnets is refused on this one", async () => {
    const peer = new TestAgentPeer(privateKeyToAccount(generatePrivateKey()), { subnets: ["elsewhere"] });
    await peer.connect(gw.url, "hub");
    const err = await peer.waitFor((f) => f.type === "error");
    expect(String(err.message)).toContain("does not serve subnet hub");
  });

  test("HTTP errors are typed: unknown route 404, malformed body 400 naming the field", async () => {
    const nf = await fetch(`${gw.url}/v1/nope`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: { code: string } }).error.code).toBe("NOT_FOUND");
    const bad = await fetch(`${gw.url}/v1/inference`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        subnet: "hub",
        model: "tiny",
        inputs: { x: { dtype: "float32", dims: [2], data: "AAAA" } },
      }),
    });
    expect(bad.status).toBe(400);
    const body = (await bad.json()) as { error: { code: string; message: string } };
    expect(body.error.code).toBe("INVALID_INPUT");
    expect(body.error.message).toContain("inputs.x");
    const notJson = await fetch(`${gw.url}/v1/ocr`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{",
    });
    expect(notJson.status).toBe(400);
    const big = await fetch(`${gw.url}/v1/ocr`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ subnet: "hub", image: "A".repeat(17 * 1024 * 1024) }),
    });
    expect(big.status).toBe(413);
  });
});

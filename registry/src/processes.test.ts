import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { tempDir, waitFor } from "./test-support/cluster.ts";
import { agentRecord, newAccount, subnetRecord } from "./test-support/records.ts";

const MAIN = join(import.meta.dir, "main.ts");
const dir = tempDir();
const live = new Set<Subprocess<"ignore", "pipe", "pipe">>();

interface Proc {
  proc: Subprocess<"ignore", "pipe", "pipe">;
  url: string;
  peerId: string;
  multiaddrs: string[];
}

async function spawnNode(name: string, bootstrap: string[] = [], fromDataDir = false): Promise<Proc> {
  const dataDir = join(dir.path, name);
  const args = [MAIN, "--data-dir", fromDataDir ? "." : dataDir, "--http-port", "0", "--log-level", "warn"];
  for (const b of bootstrap) args.push("--bootstrap", b);
  if (fromDataDir) mkdirSync(dataDir, { recursive: true });
  const proc = Bun.spawn([process.execPath, ...args], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    ...(fromDataDir ? { cwd: dataDir } : {}),
  });
  live.add(proc);
  const reader = proc.stdout.getReader();
  let text = "";
  const deadline = Date.now() + 15_000;
  while (!text.includes("\n")) {
    if (Date.now() > deadline) throw new Error(`${name} did not start`);
    const { value, done } = await reader.read();
    if (done) throw new Error(`${name} exited: ${await new Response(proc.stderr).text()}`);
    text += new TextDecoder().decode(value);
  }
  reader.releaseLock();
  const ready = JSON.parse(text.slice(0, text.indexOf("\n"))) as Omit<Proc, "proc">;
  return { proc, ...ready };
}

async function stopNode(p: Proc, signal: "SIGTERM" | "SIGKILL"): Promise<number> {
  p.proc.kill(signal);
  const code = await p.proc.exited;
  live.delete(p.proc);
  return code;
}

afterAll(async () => {
  for (const p of live) p.kill("SIGKILL");
  await Promise.all([...live].map((p) => p.exited));
  dir.cleanup();
});

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("registry nodes as separate processes", () => {
  test("records cross processes through the DHT; a killed node's peers keep serving; it restarts with its data", async () => {
    const first = await spawnNode("p0");
    const others = await Promise.all([spawnNode("p1", first.multiaddrs), spawnNode("p2", first.multiaddrs)]);
    const [p1, p2] = others as [Proc, Proc];
    const nodes = [first, p1, p2];
    await waitFor(
      async () => {
        const hs = await Promise.all(nodes.map((n) => getJson(`${n.url}/health`)));
        return hs.every((h) => (h.body.routingTable as number) >= 2);
      },
      20_000,
      "routing tables across processes",
    );

    const owner = newAccount();
    const subnet = await subnetRecord(owner, { id: "proc-subnet" });
    const put = await fetch(`${first.url}/v1/records`, { method: "POST", body: JSON.stringify(subnet) });
    expect(put.status).toBe(201);
    for (const n of [p1, p2]) {
      const got = await getJson(`${n.url}/v1/records/subnet/proc-subnet?source=dht`);
      expect(got.status).toBe(200);
      expect((got.body.record as { signature: string }).signature).toBe(subnet.signature);
    }

    // Kill one node outright; the others keep answering and keep exchanging records.
    expect(await stopNode(p1, "SIGKILL")).not.toBe(0);
    const agent = newAccount();
    const record = await agentRecord(agent);
    const put2 = await fetch(`${p2.url}/v1/records`, { method: "POST", body: JSON.stringify(record) });
    expect(put2.status).toBe(201);
    const fromFirst = await getJson(`${first.url}/v1/records/agent/${record.key}?source=dht`);
    expect(fromFirst.status).toBe(200);
    const again = await getJson(`${p2.url}/v1/records/subnet/proc-subnet?source=dht`);
    expect(again.status).toBe(200);

    // The killed node restarts from its data folder: same identity, its index back, rejoined.
    const back = await spawnNode("p1", first.multiaddrs);
    expect(back.peerId).toBe(p1.peerId);
    const subnets = await getJson(`${back.url}/v1/subnets`);
    expect((subnets.body.subnets as { key: string }[]).map((s) => s.key)).toContain("proc-subnet");
    await waitFor(
      async () => ((await getJson(`${back.url}/v1/agents`)).body.agents as unknown[]).length === 1,
      10_000,
      "index sync",
    );
    await waitFor(
      async () => (await getJson(`${back.url}/v1/records/agent/${record.key}?source=dht`)).status === 200,
      10_000,
      "DHT lookup from the restarted node",
    );

    for (const n of [first, p2, back]) expect(await stopNode(n, "SIGTERM")).toBe(0);
  }, 60_000);

  test("a node started from its data folder works from an empty 0700 folder, not next to its peer key", async () => {
    const node = await spawnNode("from-data", [], true);
    const dataDir = realpathSync(join(dir.path, "from-data"));
    const cwd = readlinkSync(`/proc/${node.proc.pid}/cwd`);
    expect(cwd).toBe(join(dataDir, "empty"));
    expect(statSync(cwd).mode & 0o777).toBe(0o700);
    expect(readdirSync(cwd)).toEqual([]);
    // The relative --data-dir was read against the folder it started in, before it moved.
    expect(readdirSync(dataDir)).toContain("peer.key");
    expect(readdirSync(dataDir)).toContain("registry.sqlite");
    expect((await getJson(`${node.url}/health`)).status).toBe(200);
    expect(await stopNode(node, "SIGTERM")).toBe(0);
  }, 30_000);
});

// CPU time per request of each devnet process (validators, agents, the gateway's workerd,
// anvil, this client) while a session stream serves a fixed number of requests, read from
// /proc (Linux). Where the throughput goes, per process: compare two checkouts by running
// it from each (or with --root), in turns, on an idle machine.
//
//   bun tools/stream-cpu.ts [--root <checkout>] [--requests 5000] [--concurrency 64] [--path stream|http]
//
// `--path http` sends the same requests through the per-request HTTP API instead (one
// Request object, preprocess and completion validation each).
//
// Set NCN_DEVNET_CPU_PROFILE=<folder> as well to get each validator's and agent's own
// CPU profile (markdown) when the run ends, and NCN_GATEWAY_INSPECTOR_PORT=<port> to get the
// gateway Worker's hottest functions while the requests run one at a time (DevTools protocol).
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const argv = process.argv.slice(2);
const opt = (name: string, fallback: string): string => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? (argv[i + 1] as string) : fallback;
};
const root = resolve(opt("root", resolve(import.meta.dirname, "..")));
const requests = Number(opt("requests", "5000"));
const concurrency = Number(opt("concurrency", "64"));
const path = opt("path", "stream");
if (path !== "stream" && path !== "http") {
  console.error("--path takes stream or http");
  process.exit(2);
}
if (!Number.isInteger(requests) || requests < 1 || !Number.isInteger(concurrency) || concurrency < 1) {
  console.error("--requests and --concurrency take positive integers");
  process.exit(2);
}

interface DevnetLike {
  client: {
    openStream(o: { subnet: string; model: string }): Promise<{
      infer(model: string, inputs: object): Promise<unknown>;
      close(): Promise<void>;
    }>;
    infer(o: { subnet: string; model: string; inputs: object }): Promise<{ response: { state: string } }>;
  };
  file: { registries: { url: string }[] };
  stop(): Promise<void>;
}
const { startDevnet } = (await import(join(root, "cli", "src", "devnet", "devnet.ts"))) as {
  startDevnet(o: { dir: string; port: number }): Promise<DevnetLike>;
};

const TICK_MS = 1000 / 100; // USER_HZ

/** CPU milliseconds of each process below this one, by role. */
function cpuByRole(): Map<number, { role: string; ms: number }> {
  const parent = new Map<number, number>();
  const all = new Map<number, { role: string; ms: number }>();
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const cmd = readFileSync(`/proc/${entry}/cmdline`, "utf8").replaceAll("\0", " ");
      const role = /registry\/src\/main/.test(cmd)
        ? "validators"
        : /agent\/src\/main/.test(cmd)
          ? "agents"
          : /workerd/.test(cmd)
            ? "gateway (workerd)"
            : /anvil/.test(cmd)
              ? "anvil"
              : "other";
      parent.set(Number(entry), Number(fields[1]));
      all.set(Number(entry), { role, ms: (Number(fields[11]) + Number(fields[12])) * TICK_MS });
    } catch {
      // The process ended while it was read.
    }
  }
  const below = (pid: number): boolean => {
    let p = pid;
    for (let depth = 0; depth < 32 && p > 1; depth++) {
      p = parent.get(p) ?? 0;
      if (p === process.pid) return true;
    }
    return false;
  };
  return new Map([...all].filter(([pid]) => below(pid)));
}

/** CPU milliseconds spent by each role between two readings. */
function perRole(
  before: Map<number, { role: string; ms: number }>,
  after: Map<number, { role: string; ms: number }>,
): Map<string, number> {
  const out = new Map<string, number>();
  for (const [pid, a] of after) out.set(a.role, (out.get(a.role) ?? 0) + a.ms - (before.get(pid)?.ms ?? 0));
  return out;
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

/** Samples the gateway Worker's CPU through its inspector until `stop` is called; prints the top functions. */
async function profileGateway(port: number): Promise<{ stop(): Promise<void> }> {
  const targets = (await (await fetch(`http://127.0.0.1:${port}/json`)).json()) as {
    webSocketDebuggerUrl: string;
  }[];
  const target = targets[0]?.webSocketDebuggerUrl;
  if (!target) throw new Error(`no inspector target on port ${port}`);
  const ws = new WebSocket(target);
  await new Promise((ok, fail) => {
    ws.onopen = ok;
    ws.onerror = fail;
  });
  let next = 1;
  const waiting = new Map<number, (r: unknown) => void>();
  ws.onmessage = (e) => {
    const msg = JSON.parse(String(e.data)) as { id?: number; result?: unknown };
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg.result);
  };
  const call = (method: string, params: object = {}) =>
    new Promise<unknown>((ok) => {
      const id = next++;
      waiting.set(id, ok);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 100 });
  await call("Profiler.start");
  return {
    async stop() {
      const { profile } = (await call("Profiler.stop")) as {
        profile: { nodes: ProfileNode[]; startTime: number; endTime: number };
      };
      ws.close();
      const hits = new Map<string, number>();
      let total = 0;
      for (const n of profile.nodes) {
        const c = n.callFrame;
        const where = `${c.functionName || "(anonymous)"} ${c.url.split("/").slice(-2).join("/")}:${c.lineNumber + 1}`;
        hits.set(where, (hits.get(where) ?? 0) + (n.hitCount ?? 0));
        total += n.hitCount ?? 0;
      }
      console.log(`  gateway Worker, self samples (${total} in all, idle included):`);
      for (const [where, n] of [...hits].sort((a, b) => b[1] - a[1]).slice(0, 40))
        console.log(`    ${((n / total) * 100).toFixed(1).padStart(5)}%  ${where}`);
      // Who calls the built-ins at the top (storage, socket sends, timers).
      const parent = new Map<number, ProfileNode>();
      for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n);
      const byCaller = new Map<string, number>();
      for (const n of profile.nodes) {
        if (n.callFrame.url !== "" || !n.hitCount) continue;
        const up = parent.get(n.id)?.callFrame;
        if (!up || up.url === "") continue;
        const key = `${n.callFrame.functionName} <- ${up.functionName || "(anonymous)"}:${up.lineNumber + 1}`;
        byCaller.set(key, (byCaller.get(key) ?? 0) + n.hitCount);
      }
      console.log("  built-ins by caller:");
      for (const [key, n] of [...byCaller].sort((a, b) => b[1] - a[1]).slice(0, 15))
        console.log(`    ${((n / total) * 100).toFixed(1).padStart(5)}%  ${key}`);
    },
  };
}

const home = mkdtempSync(join(tmpdir(), "ncn-stream-cpu-"));
const devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
try {
  const stream = await devnet.client.openStream({ subnet: "default", model: "tiny-mlp" });
  const x = { dtype: "float32", dims: [1, 4], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) };
  const send =
    path === "stream"
      ? () => stream.infer("tiny-mlp", { x })
      : async () => {
          const { response } = await devnet.client.infer({
            subnet: "default",
            model: "tiny-mlp",
            inputs: { x },
          });
          if (response.state !== "returned") throw new Error(`a request ended ${response.state}`);
        };
  for (let i = 0; i < (path === "stream" ? 200 : 20); i++) await send();
  // One at a time first: the latency a request sees when nothing else waits.
  const one: number[] = [];
  const oneBefore = cpuByRole();
  const inspector = process.env.NCN_GATEWAY_INSPECTOR_PORT;
  const gatewayProfile = inspector ? await profileGateway(Number(inspector)) : undefined;
  for (let i = 0; i < Math.min(1000, requests); i++) {
    const t = performance.now();
    await send();
    one.push(performance.now() - t);
  }
  const oneCpu = perRole(oneBefore, cpuByRole());
  await gatewayProfile?.stop();
  one.sort((a, b) => a - b);
  const at = (q: number) => (one[Math.min(one.length - 1, Math.floor(q * one.length))] ?? 0).toFixed(2);
  const calls = async () => {
    let n = 0;
    for (const r of devnet.file.registries) {
      const health = (await (await fetch(`${r.url}/health`)).json()) as { validation?: { stream?: number } };
      n += health.validation?.stream ?? 0;
    }
    return n;
  };
  /** Gossip messages received and published, per topic, over every validator. */
  const gossip = async () => {
    const out = new Map<string, number>();
    for (const r of devnet.file.registries) {
      const health = (await (await fetch(`${r.url}/health`)).json()) as {
        gossip?: Record<string, { received: number; published: number }>;
      };
      for (const [topic, c] of Object.entries(health.gossip ?? {})) {
        out.set(`${topic} received`, (out.get(`${topic} received`) ?? 0) + c.received);
        out.set(`${topic} published`, (out.get(`${topic} published`) ?? 0) + c.published);
      }
    }
    return out;
  };
  const calls0 = await calls();
  const gossip0 = await gossip();
  const before = cpuByRole();
  const self0 = process.cpuUsage();
  const t0 = performance.now();
  let left = requests;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (left-- > 0) await send();
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  const self = process.cpuUsage(self0);
  const after = cpuByRole();
  const calls1 = await calls();
  const gossip1 = await gossip();
  const byRole = new Map<string, number>([["client (this process)", (self.user + self.system) / 1000]]);
  for (const [pid, a] of after)
    byRole.set(a.role, (byRole.get(a.role) ?? 0) + a.ms - (before.get(pid)?.ms ?? 0));
  const nodes = devnet.file.registries.length;
  console.log(
    `${root}: ${requests} requests, ${concurrency} in flight, ${(requests / seconds).toFixed(0)} requests/s`,
  );
  console.log(
    `  one at a time: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms (${one.length} requests); CPU per request:`,
  );
  for (const [role, ms] of [...oneCpu].sort((a, b) => b[1] - a[1]))
    console.log(`    ${role.padEnd(22)} ${((ms / one.length) * 1000).toFixed(0).padStart(6)} µs`);
  if (path === "stream")
    console.log(
      `  ${((requests * nodes) / Math.max(1, calls1 - calls0)).toFixed(1)} requests per validation call`,
    );
  const moved = [...gossip1].filter(([k, n]) => n !== (gossip0.get(k) ?? 0));
  if (moved.length > 0) console.log("  gossip messages per request, all validators together:");
  for (const [k, n] of moved)
    console.log(`    ${k.padEnd(40)} ${((n - (gossip0.get(k) ?? 0)) / requests).toFixed(2).padStart(6)}`);
  let total = 0;
  for (const [role, ms] of [...byRole].sort((a, b) => b[1] - a[1])) {
    total += ms;
    console.log(`  ${role.padEnd(24)} ${((ms / requests) * 1000).toFixed(0).padStart(6)} µs CPU per request`);
  }
  console.log(
    `  ${"total".padEnd(24)} ${((total / requests) * 1000).toFixed(0).padStart(6)} µs CPU per request`,
  );
  await stream.close();
} finally {
  await devnet.stop();
  rmSync(home, { recursive: true, force: true });
}

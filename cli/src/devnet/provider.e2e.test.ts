import { afterAll, beforeAll, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { tokenBalance } from "@ncn/contracts/actions";
import { createPublicClient, http } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { DEVNET_PRICES, type Devnet, startDevnet } from "./devnet.ts";

// A provider's first hour, with the commands a provider runs: an agent with a fresh key joins
// the devnet, serves paid work, `ncn-agent earnings` shows what was credited, `withdraw`
// refuses without gas and says how to get some, `ncn fund` gives some, `withdraw --to` moves
// the credit, and SIGTERM ends the agent within 2 s while requests go on elsewhere.

const ROOT = resolve(import.meta.dirname, "..", "..", "..");
const BUN = process.execPath;
const AGENT = join(ROOT, "agent", "src", "main.ts");
const CLI = join(ROOT, "cli", "src", "main.ts");

let devnet: Devnet;
let home: string;
let agent: ChildProcess | undefined;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-provider-e2e-"));
  devnet = await startDevnet({
    dir: join(home, ".ncn"),
    port: 0,
    gatewayVars: { SETTLE_INTERVAL_MS: "1000" },
  });
}, 180_000);

afterAll(async () => {
  agent?.kill("SIGKILL");
  await devnet?.stop();
  if (!process.env.NCN_KEEP_E2E) rmSync(home, { recursive: true, force: true });
}, 60_000);

/** Runs a command to its end: exit code and output. */
function run(
  args: string[],
  env: Record<string, string | undefined>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const p = spawn(BUN, args, { env, cwd: home, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    p.stdout.on("data", (b: Buffer) => {
      stdout += b.toString();
    });
    p.stderr.on("data", (b: Buffer) => {
      stderr += b.toString();
    });
    p.on("close", (code) => done({ code, stdout, stderr }));
  });
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await probe().catch(() => undefined);
    if (got !== undefined) return got;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

interface EarningsJson {
  address: string;
  served: { tasks: number; charged: string };
  agentBps: number;
  paid: string;
  withdrawn: string;
  pending: string;
  withdrawable: string;
  gas: string;
}

const x = { dtype: "float32" as const, dims: [1, 4], data: Float32Array.from([0.1, 0.2, 0.3, 0.4]) };
const infer = () => devnet.client.infer({ subnet: "default", model: "tiny-mlp", inputs: { x } });

test("a fresh agent serves paid work, sees its earnings, withdraws them, and stops within 2 s of SIGTERM", async () => {
  // The devnet's own agents go: the fresh one serves alone.
  await devnet.killAgent(0);
  await devnet.killAgent(1);
  const env = {
    ...process.env,
    NCN_GATEWAY: devnet.file.gateway.url,
    NCN_DATA_DIR: join(home, "provider"),
    NCN_SUBNETS: "default,no-such-subnet",
    NCN_MODEL_DIRS: join(home, ".ncn", "models"),
    NCN_RPC_URL: devnet.file.chain.rpcUrl,
    NCN_LOG_LEVEL: "info",
  };
  const address = (await run([AGENT, "address"], env)).stdout.trim().toLowerCase();
  expect(address).toMatch(/^0x[0-9a-f]{40}$/);

  const proc = spawn(BUN, [AGENT, "run"], { env, cwd: home, stdio: ["ignore", "pipe", "pipe"] });
  agent = proc;
  let log = "";
  proc.stdout?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  proc.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  await waitFor(
    "the fresh agent to connect",
    async () => {
      const net = (await (await fetch(`${devnet.file.gateway.url}/v1/network`)).json()) as {
        subnets: { id: string; agents: { address: string; connected: boolean }[] }[];
      };
      const live = net.subnets.find((s) => s.id === "default")?.agents ?? [];
      return live.some((a) => a.connected && a.address.toLowerCase() === address) ? true : undefined;
    },
    30_000,
  );

  // A subnet the gateway's catalog does not list gets a warning that says so.
  await waitFor(
    "the unknown subnet warning",
    async () => (log.includes('"unknown subnet"') ? true : undefined),
    10_000,
  );
  expect(log).toContain("no-such-subnet");

  const N = 8;
  for (let i = 0; i < N; i++) expect((await infer()).response.state).toBe("returned");
  // One info line per task at the default level.
  expect(log.match(/task done/g)?.length ?? 0).toBeGreaterThanOrEqual(N);

  // Credited once the settlement batch lands; the served tally is saved every few seconds.
  const earnings = async () => {
    const r = await run([AGENT, "earnings", "--json"], env);
    if (r.code !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout) as EarningsJson;
  };
  const charged = BigInt(N) * DEVNET_PRICES.tiny;
  const e = await waitFor(
    "the agent's credit and tally",
    async () => {
      const got = await earnings();
      return got.served.tasks >= N && BigInt(got.paid) > 0n && BigInt(got.pending) === 0n ? got : undefined;
    },
    60_000,
  );
  expect(e.address.toLowerCase()).toBe(address);
  expect(e.served.tasks).toBe(N);
  expect(BigInt(e.served.charged)).toBe(charged);
  expect(BigInt(e.paid)).toBe((charged * BigInt(e.agentBps)) / 10_000n);
  expect(e.withdrawable).toBe(e.paid);
  expect(e.gas).toBe("0");
  const human = await run([AGENT, "earnings"], env);
  expect(human.stdout).toContain("withdrawable");
  expect(human.stdout).toContain(`ncn fund ${e.address}`);

  // No ether for gas: refused, saying how to get some, nothing moved.
  const broke = await run([AGENT, "withdraw"], env);
  expect(broke.code).toBe(1);
  expect(broke.stderr).toContain("INSUFFICIENT_FUNDS");
  expect(broke.stderr).toContain(`ncn fund`);
  const funded = await run([CLI, "fund", address, "--eth", "0.5", "--json"], env);
  expect(funded.code).toBe(0);
  expect(JSON.parse(funded.stdout).eth).toBe(String(5n * 10n ** 17n));

  const payee = privateKeyToAccount(generatePrivateKey()).address;
  const moved = await run([AGENT, "withdraw", "--to", payee, "--json"], env);
  expect(moved.code).toBe(0);
  const { amount } = JSON.parse(moved.stdout) as { amount: string };
  // The contract leaves 1 base unit credited, so the next payout stays cheap.
  expect(BigInt(amount)).toBe(BigInt(e.paid) - 1n);
  const chain = createPublicClient({ transport: http(devnet.file.chain.rpcUrl) });
  expect(await tokenBalance(chain, devnet.chain.contracts, payee)).toBe(BigInt(amount));
  const after = await earnings();
  expect(after.withdrawable).toBe("1");
  expect(after.withdrawn).toBe(amount);
  const bad = await run([AGENT, "withdraw", "--to", "0x1234"], env);
  expect([bad.code, bad.stderr.includes("INVALID_INPUT")]).toEqual([1, true]);

  // SIGTERM under load: another agent is back, the fresh one goes within 2 s, no request is lost.
  await devnet.startAgent(0);
  const burst = Array.from({ length: 40 }, () => infer().then((r) => r.response.state));
  await new Promise((r) => setTimeout(r, 30));
  const t0 = performance.now();
  proc.kill("SIGTERM");
  const exitCode = await new Promise<number | null>((done) => proc.on("exit", (code) => done(code)));
  const exitMs = performance.now() - t0;
  console.info(JSON.stringify({ component: "provider:e2e", exitMs: Math.round(exitMs), exitCode }));
  expect(exitMs).toBeLessThan(2_000);
  expect(exitCode).toBe(0);
  expect(log).toContain('"stopped"');
  expect(await Promise.all(burst)).toEqual(Array.from({ length: 40 }, () => "returned"));
}, 240_000);

test("an unreachable gateway gets a warning that names it, less and less often, and SIGTERM still ends the agent at once", async () => {
  const env = {
    ...process.env,
    NCN_GATEWAY: "ws://127.0.0.1:9",
    NCN_DATA_DIR: join(home, "lonely"),
    NCN_SUBNETS: "default",
    NCN_LOG_LEVEL: "info",
  };
  const proc = spawn(BUN, [AGENT, "run"], { env, cwd: home, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  proc.stderr?.on("data", (b: Buffer) => {
    log += b.toString();
  });
  await waitFor(
    "the first warning",
    async () => (log.includes('"gateway unreachable"') ? true : undefined),
    15_000,
  );
  await new Promise((r) => setTimeout(r, 3_000));
  const t0 = performance.now();
  proc.kill("SIGTERM");
  await new Promise((done) => proc.on("exit", done));
  expect(performance.now() - t0).toBeLessThan(2_000);
  const warnings = log.split("\n").filter((l) => l.includes('"gateway unreachable"'));
  expect(warnings[0]).toContain("ws://127.0.0.1:9/v1/agents/connect");
  expect(warnings[0]).toContain("NCN_GATEWAY");
  // Failures 1, 2, 4, 8...: a handful in a few seconds, not several a second.
  expect(warnings.length).toBeGreaterThanOrEqual(2);
  expect(warnings.length).toBeLessThanOrEqual(5);
}, 60_000);

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runChaos } from "./chaos.ts";
import { formatChaosReport } from "./chaos-report.ts";
import { type Devnet, startDevnet } from "./devnet.ts";

// The short chaos run (`npm run chaos` is the long one): paid load through the per-request API
// and a session stream while one agent, one validator and the gateway are each killed with
// SIGKILL once and started again. Nothing may be lost, charged twice or charged for a failure.

const SEED = Number(process.env.NCN_CHAOS_SEED ?? "20261206");

let devnet: Devnet;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-chaos-e2e-"));
  devnet = await startDevnet({
    dir: join(home, ".ncn"),
    port: 0,
    gatewayVars: { SETTLE_INTERVAL_MS: "1500", SETTLE_RELEASE_AFTER_MS: "20000" },
  });
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  if (!process.env.NCN_KEEP_E2E) rmSync(home, { recursive: true, force: true });
}, 60_000);

test("one kill of each kind under paid load: 0 lost, 0 charged twice, 0 charged for a failure", async () => {
  const report = await runChaos(devnet, { requests: 240, kills: 3, seed: SEED, settleTimeoutMs: 60_000 });
  console.log(formatChaosReport(report));
  const { total, api, stream } = report.counts;
  expect(report.kills.map((k) => k.kind).sort()).toEqual(["agent", "gateway", "validator"]);
  expect(total.requests).toBeGreaterThanOrEqual(240);
  expect(api.ok).toBeGreaterThan(0);
  expect(stream.ok).toBeGreaterThan(0);
  expect(total.lost).toBe(0);
  expect(total.doubleCharged).toBe(0);
  expect(total.chargedForFailed).toBe(0);
  // Every kind of client got served again after each restart.
  for (const k of report.kills) {
    expect(k.recoveryMs.api).toBeDefined();
    expect(k.recoveryMs.stream).toBeDefined();
  }
  // Per-request API sessions: delivered = charged = settled on chain.
  for (const s of report.sessions.filter((x) => x.kind === "api")) {
    expect(s.settled).toBe(s.charged);
    expect(s.charged + s.released).toBe(s.delivered);
  }
  // Every session's charges settled or were released within the wait: none stuck.
  expect(report.settled).toBe(true);
  // The money on chain adds up: deposits = payouts + refunds + unspent.
  expect(report.chain?.ok).toBe(true);
}, 300_000);

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NcnClient, openPaymentSession } from "@ncn/sdk";
import { privateKeyToAccount } from "viem/accounts";
import { DEVNET_PRICES, type Devnet, startDevnet } from "./devnet.ts";
import { readStanding, waitForSettlement } from "./reconcile.ts";

// The gateway dies (SIGKILL) after a stream's results went out and before they were
// charged: charges wait STREAM_COMMIT_DELAY_MS to be grouped, set long here so that the
// kill always falls in that gap. The results are in the stream hub's journal; the gateway
// charges them when it starts again (once), gives the dead stream's lease back, and the
// session settles to exactly what the client received once a voucher covers that total.

let devnet: Devnet;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-stream-crash-e2e-"));
  devnet = await startDevnet({
    dir: join(home, ".ncn"),
    port: 0,
    agents: 1,
    gatewayVars: { STREAM_COMMIT_DELAY_MS: "600000", SETTLE_INTERVAL_MS: "1000", SETTLE_EVERY: "1" },
  });
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  if (!process.env.NCN_KEEP_E2E) rmSync(home, { recursive: true, force: true });
}, 60_000);

const tensor = (i: number) => ({
  x: { dtype: "float32" as const, dims: [1, 4], data: new Float32Array([i, 1, 2, 3]) },
});

test("results a killed gateway delivered but had not charged are charged once after its restart, and settle", async () => {
  const owner = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
  const q = await devnet.client.quote("default", "tiny-mlp");
  const { sessionId } = await openPaymentSession(
    {
      rpcUrl: devnet.file.chain.rpcUrl,
      chainId: devnet.file.chain.chainId,
      contracts: devnet.chain.contracts,
    },
    owner,
    { gateway: q.gateway as `0x${string}`, amount: 10n ** 18n, expiresInSeconds: 3600 },
  );
  const client = new NcnClient({ gatewayUrl: devnet.file.gateway.url, account: owner });
  await client.registerSession(sessionId);

  const first = await client.openStream({ subnet: "default", model: "tiny-mlp" });
  const n = 8;
  const results = await Promise.all(Array.from({ length: n }, (_, i) => first.infer("tiny-mlp", tensor(i))));
  expect(results).toHaveLength(n);
  expect(first.charged).toBe(0n); // delivered, not charged yet: the charges wait to be grouped
  await devnet.killGateway();
  await devnet.startGateway();

  // The restarted gateway charges the journal's 8 results as the shard starts (agents reconnecting start it).
  const replayed = BigInt(n) * DEVNET_PRICES.tiny;
  const until = Date.now() + 30_000;
  let standing = await readStanding(devnet, sessionId, replayed);
  while (standing.charged < replayed && Date.now() < until) {
    await Bun.sleep(250);
    standing = await readStanding(devnet, sessionId, replayed);
  }
  expect(standing.charged).toBe(replayed);
  // One more request, paid per request: its voucher covers everything charged so far, so all of it settles.
  await client.registerSession(sessionId);
  await client.infer({ subnet: "default", model: "tiny-mlp", inputs: tensor(100) });

  const delivered = BigInt(n + 1) * DEVNET_PRICES.tiny;
  const outcome = await waitForSettlement(devnet, new Map([[sessionId, delivered]]), 60_000);
  const s = outcome.sessions[0];
  console.log(
    JSON.stringify({
      delivered: String(s?.delivered),
      charged: String(s?.charged),
      released: String(s?.released),
      settled: String(s?.settled),
      settleMs: outcome.settleMs,
    }),
  );
  expect(s?.charged).toBe(delivered); // the dead stream's 8 results are charged, once
  expect(s?.released).toBe(0n);
  expect(s?.settled).toBe(delivered);
  expect(outcome.done).toBe(true);
}, 150_000);

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNcnReadClient, inferencePaymentAbi, readSession } from "@ncn/contracts";
import { Bytes32, encodeApiKey, ncnDomain, tensorToJson, typedData } from "@ncn/protocol";
import * as v from "valibot";
import {
  createPublicClient,
  decodeFunctionData,
  type Hex,
  http,
  parseEventLogs,
  recoverTypedDataAddress,
} from "viem";
import { generatePrivateKey } from "viem/accounts";
import { createApiKey } from "../keys/create-api-key.ts";
import { type KeyWallet, keyWallet } from "../keys/key-wallet.ts";
import { listApiKeys } from "../keys/list-api-keys.ts";
import { revokeApiKey } from "../keys/revoke-api-key.ts";
import { DEVNET_PRICES, type Devnet, startDevnet } from "./devnet.ts";

// API keys through real parts: anvil with the contracts, three validators, the gateway in
// workerd and agents. The wallet never signs a voucher: every one is the key's, signed by the
// gateway on its behalf, and they settle on chain.

let devnet: Devnet;
let home: string;
let wallet: KeyWallet;
const PRICE = DEVNET_PRICES.tiny;
const x = { x: { dtype: "float32" as const, dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } };

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-keys-e2e-"));
  devnet = await startDevnet({ dir: join(home, ".ncn"), port: 0 });
  wallet = await keyWallet({
    gatewayUrl: devnet.file.gateway.url,
    rpcUrl: devnet.file.chain.rpcUrl,
    paymentContract: devnet.file.chain.contracts.payment,
    tokenContract: devnet.file.chain.contracts.token,
    privateKey: devnet.file.client.privateKey,
  });
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(home, { recursive: true, force: true });
}, 60_000);

/** A native tensor request paid by `authorization` (no payment field). */
async function infer(authorization: string | undefined, requestId = crypto.randomUUID()) {
  const res = await fetch(`${devnet.file.gateway.url}/v1/inference`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(authorization === undefined ? {} : { authorization }),
    },
    body: JSON.stringify({
      requestId,
      subnet: "default",
      model: "tiny-mlp",
      inputs: { x: tensorToJson(x.x) },
    }),
  });
  const json = (await res.json()) as { state?: string; error?: { code: string; message: string } };
  return { status: res.status, json };
}

async function charged(sessionId: Hex): Promise<bigint> {
  const res = await fetch(`${devnet.file.gateway.url}/v1/sessions`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ sessionId }),
  });
  return BigInt(((await res.json()) as { charged: string }).charged);
}

const read = () =>
  createNcnReadClient({ rpcUrl: devnet.file.chain.rpcUrl, chainId: devnet.file.chain.chainId });

async function settledOnChain(sessionId: Hex, want: bigint, timeoutMs = 45_000): Promise<bigint> {
  const until = Date.now() + timeoutMs;
  let settled = 0n;
  while (Date.now() < until) {
    settled = (await readSession(read(), devnet.chain.contracts, sessionId)).settled;
    if (settled >= want) return settled;
    await new Promise((r) => setTimeout(r, 250));
  }
  return settled;
}

/** The signers of the vouchers `settleBatch` transactions carried for `sessionId`. */
async function voucherSigners(sessionId: Hex): Promise<string[]> {
  const chain = createPublicClient({ transport: http(devnet.file.chain.rpcUrl) });
  const logs = await chain.getLogs({ address: devnet.chain.contracts.payment, fromBlock: 0n });
  const mine = parseEventLogs({ abi: inferencePaymentAbi, logs, eventName: "SessionSettled" }).filter(
    (l) => l.args.sessionId.toLowerCase() === sessionId.toLowerCase(),
  );
  const domain = ncnDomain(devnet.file.chain.chainId, devnet.chain.contracts.payment);
  const signers: string[] = [];
  for (const log of mine) {
    const tx = await chain.getTransaction({ hash: log.transactionHash });
    const call = decodeFunctionData({ abi: inferencePaymentAbi, data: tx.input });
    if (call.functionName !== "settleBatch") continue;
    const [batch] = call.args;
    const i = batch.sessionIds.findIndex((s) => s.toLowerCase() === sessionId.toLowerCase());
    const cumulativeAmount = batch.cumulativeAmounts[i];
    const signature = batch.voucherSignatures[i];
    if (cumulativeAmount === undefined || signature === undefined) continue;
    const signer = await recoverTypedDataAddress({
      ...typedData(domain, "Voucher", { sessionId, cumulativeAmount }),
      signature,
    });
    signers.push(signer.toLowerCase());
  }
  return signers;
}

/** Runs `ncn key …` as a person would, the wallet's key in the environment only. */
async function ncnKey(...args: string[]): Promise<{ code: number; json: Record<string, unknown> }> {
  const proc = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "..", "main.ts"),
      "key",
      ...args,
      `--gateway=${devnet.file.gateway.url}`,
      `--rpc-url=${devnet.file.chain.rpcUrl}`,
      `--payment-contract=${devnet.file.chain.contracts.payment}`,
      `--token=${devnet.file.chain.contracts.token}`,
      "--json",
    ],
    {
      cwd: home,
      env: { PATH: process.env.PATH ?? "", NCN_PRIVATE_KEY: devnet.file.client.privateKey },
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  return { code, json: JSON.parse(out) as Record<string, unknown> };
}

describe("API keys", () => {
  test("`ncn key create`, `list` and `revoke`: the key printed once pays, and is gone once revoked", async () => {
    const created = await ncnKey("create", "--deposit=0.001", "--expiry=1h");
    expect(created.code).toBe(0);
    const { apiKey, sessionId, signer, baseUrl } = created.json;
    expect(typeof apiKey === "string" && apiKey.startsWith("ncn-")).toBe(true);
    expect(baseUrl).toBe(`${devnet.file.gateway.url}/v1`);
    expect(created.json.deposit).toBe((10n ** 15n).toString());
    expect((await infer(`Bearer ${String(apiKey)}`)).status).toBe(200);
    const listed = await ncnKey("list");
    expect(listed.json.sessions).toContainEqual(expect.objectContaining({ sessionId, signer }));
    const revoked = await ncnKey("revoke", String(sessionId));
    expect([revoked.code, revoked.json.sessionId]).toEqual([0, sessionId]);
    const after = await ncnKey("list");
    expect(after.json.sessions).toContainEqual(expect.objectContaining({ sessionId, signer: null }));
    // Bad input is refused before anything is sent.
    const bad = await ncnKey("create", "--deposit=lots");
    expect([bad.code, (bad.json.error as { code?: string } | undefined)?.code]).toEqual([1, "INVALID_INPUT"]);
  }, 90_000);

  test("a request paid by a key succeeds and settles on chain to its price, with the key's vouchers", async () => {
    const key = await createApiKey(wallet, { deposit: 100n * PRICE, expiresInSeconds: 3_600n });
    expect(key.apiKey.startsWith("ncn-")).toBe(true);
    expect(key.baseUrl).toBe(`${devnet.file.gateway.url}/v1`);
    const t0 = performance.now();
    const r = await infer(`Bearer ${key.apiKey}`);
    const ms = performance.now() - t0;
    expect(r.status).toBe(200);
    expect(r.json.state).toBe("returned");
    expect(await charged(key.sessionId)).toBe(PRICE);
    expect(await settledOnChain(key.sessionId, PRICE)).toBe(PRICE);
    const signers = await voucherSigners(key.sessionId);
    expect(signers.length).toBeGreaterThan(0);
    expect(new Set(signers)).toEqual(new Set([key.signer]));
    const listed = await listApiKeys(wallet);
    expect(listed.find((s) => s.sessionId === key.sessionId)).toMatchObject({
      signer: key.signer,
      settled: PRICE,
    });
    console.info(JSON.stringify({ component: "keys:e2e", firstKeyRequestMs: Math.round(ms) }));
  }, 90_000);

  test("concurrent requests on one key each get their own cumulative voucher, and all settle", async () => {
    const key = await createApiKey(wallet, { deposit: 100n * PRICE, expiresInSeconds: 3_600n });
    const n = 8;
    const t0 = performance.now();
    const answers = await Promise.all(Array.from({ length: n }, () => infer(`Bearer ${key.apiKey}`)));
    const ms = performance.now() - t0;
    // Two requests given the same amount would see the second refused as a used voucher.
    expect(answers.map((a) => [a.status, a.json.state])).toEqual(
      Array.from({ length: n }, () => [200, "returned"]),
    );
    expect(await charged(key.sessionId)).toBe(BigInt(n) * PRICE);
    expect(await settledOnChain(key.sessionId, BigInt(n) * PRICE)).toBe(BigInt(n) * PRICE);
    expect(new Set(await voucherSigners(key.sessionId))).toEqual(new Set([key.signer]));
    console.info(JSON.stringify({ component: "keys:e2e", concurrentRequests: n, ms: Math.round(ms) }));
  }, 120_000);

  test("a malformed key, a key of no session and a key its session does not name: 401, nothing charged", async () => {
    const key = await createApiKey(wallet, { deposit: 10n * PRICE, expiresInSeconds: 3_600n });
    const malformed = await infer("Bearer ncn-not-a-key");
    expect([malformed.status, malformed.json.error?.code]).toEqual([401, "INVALID_API_KEY"]);
    const other = await infer("Bearer sk-proj-123");
    expect([other.status, other.json.error?.code]).toEqual([401, "INVALID_API_KEY"]);
    const noSession = encodeApiKey({
      sessionId: v.parse(Bytes32, `0x${"12".repeat(32)}`),
      privateKey: generatePrivateKey(),
    });
    const unknown = await infer(`Bearer ${noSession}`);
    expect([unknown.status, unknown.json.error?.code]).toEqual([401, "INVALID_API_KEY"]);
    const forged = encodeApiKey({ sessionId: key.sessionId, privateKey: generatePrivateKey() });
    const notDelegate = await infer(`Bearer ${forged}`);
    expect([notDelegate.status, notDelegate.json.error?.code]).toEqual([401, "API_KEY_REVOKED"]);
    expect(JSON.stringify(notDelegate.json)).not.toContain(forged.slice(8));
    expect(await charged(key.sessionId)).toBe(0n);
    // Without any payment the answer is still how to pay, now naming keys too.
    const unpaid = await infer(undefined);
    expect(unpaid.status).toBe(402);
  }, 60_000);

  test("a spent deposit: 402 and nothing more charged than the deposit", async () => {
    const key = await createApiKey(wallet, { deposit: 2n * PRICE, expiresInSeconds: 3_600n });
    expect((await infer(`Bearer ${key.apiKey}`)).status).toBe(200);
    expect((await infer(`Bearer ${key.apiKey}`)).status).toBe(200);
    const spent = await infer(`Bearer ${key.apiKey}`);
    expect([spent.status, spent.json.error?.code]).toEqual([402, "INSUFFICIENT_FUNDS"]);
    expect(await charged(key.sessionId)).toBe(2n * PRICE);
    expect(await settledOnChain(key.sessionId, 2n * PRICE)).toBe(2n * PRICE);
  }, 90_000);

  test("a revoked key: 401 API_KEY_REVOKED within the gateway's cache time, nothing charged", async () => {
    const key = await createApiKey(wallet, { deposit: 10n * PRICE, expiresInSeconds: 3_600n });
    expect((await infer(`Bearer ${key.apiKey}`)).status).toBe(200);
    const before = await charged(key.sessionId);
    await revokeApiKey(wallet, key.apiKey);
    expect((await listApiKeys(wallet)).find((s) => s.sessionId === key.sessionId)?.signer).toBeNull();
    const revokedAt = Date.now();
    // The gateway reads the key's signer again at most every 10 s (DELEGATE_CACHE_MS); until then
    // validators, which read it on every call, refuse the key's vouchers (422): nothing is charged.
    const seen: [number, string | undefined][] = [];
    let answer = await infer(`Bearer ${key.apiKey}`);
    seen.push([answer.status, answer.json.error?.code]);
    while (answer.status !== 401 && Date.now() - revokedAt < 12_000) {
      await new Promise((r) => setTimeout(r, 1_000));
      answer = await infer(`Bearer ${key.apiKey}`);
      seen.push([answer.status, answer.json.error?.code]);
    }
    expect([answer.status, answer.json.error?.code]).toEqual([401, "API_KEY_REVOKED"]);
    for (const [status, code] of seen.slice(0, -1))
      expect([status, code]).toEqual([422, "VALIDATION_REFUSED"]);
    expect((await infer(`Bearer ${key.apiKey}`)).status).toBe(401);
    expect(await charged(key.sessionId)).toBe(before);
    console.info(JSON.stringify({ component: "keys:e2e", refusedAfterRevocationMs: Date.now() - revokedAt }));
  }, 90_000);
});

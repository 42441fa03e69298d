import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNcnReadClient, inferencePaymentAbi, readSession } from "@ncn/contracts";
import { ncnDomain, REQUEST_ACCESS_HEADER, requestAccessData, tensorToJson, typedData } from "@ncn/protocol";
import { NcnClient, openPaymentSession } from "@ncn/sdk";
import { createPublicClient, decodeFunctionData, http, parseEventLogs } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { DEVNET_PRICES, type Devnet, startDevnet } from "./devnet.ts";

// Only the payer spends, and only the payer reads: attacks on the money and on requests,
// mounted against a real devnet (anvil, validators, the gateway in workerd, agents).

let devnet: Devnet;
const RELEASE_AFTER_MS = 15_000;
let home: string;

beforeAll(async () => {
  home = mkdtempSync(join(tmpdir(), "ncn-payer-e2e-"));
  // Charges no voucher covers are given up after 15 s here (5 minutes by default).
  devnet = await startDevnet({
    dir: join(home, ".ncn"),
    port: 0,
    gatewayVars: { SETTLE_RELEASE_AFTER_MS: String(RELEASE_AFTER_MS) },
  });
}, 180_000);

afterAll(async () => {
  await devnet?.stop();
  rmSync(home, { recursive: true, force: true });
}, 60_000);

const x = { x: { dtype: "float32" as const, dims: [1, 4], data: new Float32Array([1, 2, 3, 4]) } };

/** A body for `/v1/inference` paid with the given voucher. */
function body(requestId: string, sessionId: string, amount: bigint, signature: string) {
  return {
    requestId,
    subnet: "default",
    model: "tiny-mlp",
    inputs: { x: tensorToJson(x.x) },
    payment: { mode: "session", sessionId, cumulativeAmount: amount.toString(), signature },
  };
}

async function post(path: string, payload: unknown, headers: Record<string, string> = {}) {
  const res = await fetch(`${devnet.file.gateway.url}${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify(payload),
  });
  return { status: res.status, json: (await res.json()) as { error?: { code: string; message: string } } };
}

/** A fresh session for a fresh client, so each attack has its own victim. */
async function victim(): Promise<{ client: NcnClient; sessionId: `0x${string}`; sent: unknown[] }> {
  const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
  const q = await devnet.client.quote("default", "tiny-mlp");
  const { sessionId } = await openPaymentSession(
    {
      rpcUrl: devnet.file.chain.rpcUrl,
      chainId: devnet.file.chain.chainId,
      contracts: devnet.chain.contracts,
    },
    account,
    { gateway: q.gateway as `0x${string}`, amount: 10n ** 18n, expiresInSeconds: 3600 },
  );
  const sent: unknown[] = [];
  // Records what the client sends, as a validator or anyone on the path would see it.
  const recording: typeof fetch = Object.assign(
    async (input: RequestInfo | URL, init?: RequestInit) => {
      if (typeof init?.body === "string") sent.push(JSON.parse(init.body));
      return await fetch(input, init);
    },
    { preconnect: fetch.preconnect },
  );
  const client = new NcnClient({ gatewayUrl: devnet.file.gateway.url, account, fetch: recording });
  await client.registerSession(sessionId);
  return { client, sessionId, sent };
}

async function charged(sessionId: `0x${string}`): Promise<bigint> {
  const r = await new NcnClient({ gatewayUrl: devnet.file.gateway.url }).registerSession(sessionId);
  return BigInt(r.charged);
}

describe("only the payer spends", () => {
  test("a voucher read from a mined settlement pays for nothing", async () => {
    const { client, sessionId } = await victim();
    for (let i = 0; i < 3; i++) await client.infer({ subnet: "default", model: "tiny-mlp", inputs: x });
    const total = 3n * DEVNET_PRICES.tiny;
    const read = createNcnReadClient({
      rpcUrl: devnet.file.chain.rpcUrl,
      chainId: devnet.file.chain.chainId,
    });
    const until = Date.now() + 30_000;
    while (
      (await readSession(read, devnet.chain.contracts, sessionId)).settled < total &&
      Date.now() < until
    ) {
      await new Promise((r) => setTimeout(r, 250));
    }
    expect((await readSession(read, devnet.chain.contracts, sessionId)).settled).toBe(total);
    // The attacker reads the voucher out of the settlement transaction on chain.
    const chain = createPublicClient({ transport: http(devnet.file.chain.rpcUrl) });
    const logs = await chain.getLogs({ address: devnet.chain.contracts.payment, fromBlock: 0n });
    const settledLogs = parseEventLogs({ abi: inferencePaymentAbi, logs, eventName: "SessionSettled" });
    const mine = settledLogs.filter((l) => l.args.sessionId.toLowerCase() === sessionId.toLowerCase());
    expect(mine.length).toBeGreaterThan(0);
    const tx = await chain.getTransaction({ hash: mine[mine.length - 1]?.transactionHash as `0x${string}` });
    const call = decodeFunctionData({ abi: inferencePaymentAbi, data: tx.input });
    expect(call.functionName).toBe("settleBatch");
    const batch = (
      call.args as readonly [
        {
          sessionIds: readonly string[];
          cumulativeAmounts: readonly bigint[];
          voucherSignatures: readonly string[];
        },
      ]
    )[0];
    const i = batch.sessionIds.findIndex((s) => s.toLowerCase() === sessionId.toLowerCase());
    const before = await charged(sessionId);
    const r = await post(
      "/v1/inference",
      body(
        `thief-${Date.now()}`,
        sessionId,
        batch.cumulativeAmounts[i] as bigint,
        batch.voucherSignatures[i] as string,
      ),
    );
    expect(r.status).toBe(402);
    expect(r.json.error?.message).toContain("already used");
    expect(await charged(sessionId)).toBe(before);
  }, 90_000);

  test("a voucher seen in flight cannot be replayed for another request", async () => {
    const { client, sessionId, sent } = await victim();
    await client.infer({ subnet: "default", model: "tiny-mlp", inputs: x });
    const seen = sent.find((b) => typeof b === "object" && b !== null && "payment" in b) as {
      payment: { cumulativeAmount: string; signature: string };
    };
    expect(seen).toBeDefined();
    const before = await charged(sessionId);
    const r = await post(
      "/v1/inference",
      body(`replay-${Date.now()}`, sessionId, BigInt(seen.payment.cumulativeAmount), seen.payment.signature),
    );
    expect(r.status).toBe(402);
    expect(r.json.error?.message).toContain("already used");
    expect(await charged(sessionId)).toBe(before);
    // The client itself goes on paying as usual.
    const { response } = await client.infer({ subnet: "default", model: "tiny-mlp", inputs: x });
    expect(response.state).toBe("returned");
    expect(await charged(sessionId)).toBe(before + DEVNET_PRICES.tiny);
  }, 60_000);

  test("a second client of the same session is told the next free voucher and goes on", async () => {
    const { client, sessionId } = await victim();
    await client.infer({ subnet: "default", model: "tiny-mlp", inputs: x });
    // The client pays a request that then fails (an input the model does not take): its
    // voucher is spent, and nothing is charged.
    const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
    const q = await devnet.client.quote("default", "tiny-mlp");
    const domain = ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
    const next = 2n * DEVNET_PRICES.tiny;
    const sig = await account.signTypedData(
      typedData(domain, "Voucher", { sessionId, cumulativeAmount: next }),
    );
    const bad = body(`fails-${Date.now()}`, sessionId, next, sig);
    const failed = await post("/v1/inference", { ...bad, inputs: { z: tensorToJson(x.x) } });
    expect(failed.status).toBeGreaterThanOrEqual(400);
    expect(failed.json.error?.code).not.toBe("PAYMENT_REQUIRED");
    const spent = await post("/v1/inference", body(`again-${Date.now()}`, sessionId, next, sig));
    expect(spent.json.error?.message).toContain("already used");
    expect(await charged(sessionId)).toBe(DEVNET_PRICES.tiny);
    // A second client (its spent total synced from the gateway) signs that same amount first,
    // is told the next free one, and its request goes through.
    const second = new NcnClient({ gatewayUrl: devnet.file.gateway.url, account });
    await second.registerSession(sessionId);
    const { response } = await second.infer({ subnet: "default", model: "tiny-mlp", inputs: x });
    expect(response.state).toBe("returned");
    expect(await charged(sessionId)).toBe(2n * DEVNET_PRICES.tiny);
  }, 60_000);
});

describe("the last charges settle", () => {
  test("a charge no request's voucher adds up to settles once the client acknowledges what it received", async () => {
    const { sessionId } = await victim();
    const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
    const q = await devnet.client.quote("default", "tiny-mlp");
    const domain = ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
    const sign = (amount: bigint) =>
      account.signTypedData(typedData(domain, "Voucher", { sessionId, cumulativeAmount: amount }));
    // The voucher also counted a request in flight that then failed: it is above the one charge.
    const over = 2n * DEVNET_PRICES.tiny;
    const r = await post("/v1/inference", body(`gap-${Date.now()}`, sessionId, over, await sign(over)));
    expect(r.status).toBe(200);
    expect(await charged(sessionId)).toBe(DEVNET_PRICES.tiny);
    const read = createNcnReadClient({
      rpcUrl: devnet.file.chain.rpcUrl,
      chainId: devnet.file.chain.chainId,
    });
    const settled = async () => (await readSession(read, devnet.chain.contracts, sessionId)).settled;
    // Two settlement rounds later nothing is settled: no voucher equals what was charged.
    await new Promise((res) => setTimeout(res, 5_000));
    expect(await settled()).toBe(0n);

    // Typed refusals, and nothing kept: a stranger's voucher, a voucher for 0, a bad session id.
    const stranger = privateKeyToAccount(generatePrivateKey());
    const forged = await stranger.signTypedData(
      typedData(domain, "Voucher", { sessionId, cumulativeAmount: DEVNET_PRICES.tiny }),
    );
    const refused = await post(`/v1/sessions/${sessionId}/vouchers`, {
      cumulativeAmount: DEVNET_PRICES.tiny.toString(),
      signature: forged,
    });
    expect(refused.status).toBe(402);
    expect(refused.json.error?.message).toContain("not signed by the session's client");
    const zero = await post(`/v1/sessions/${sessionId}/vouchers`, {
      cumulativeAmount: "0",
      signature: forged,
    });
    expect(zero.status).toBe(400);
    const badId = await post("/v1/sessions/0x12/vouchers", { cumulativeAmount: "1", signature: forged });
    expect(badId.json.error?.code).toBe("INVALID_INPUT");
    // The client's own signature over more than its deposit (10^18) authorises nothing.
    const tooMuch = 10n ** 18n + 1n;
    const aboveDeposit = await post(`/v1/sessions/${sessionId}/vouchers`, {
      cumulativeAmount: tooMuch.toString(),
      signature: await sign(tooMuch),
    });
    expect(aboveDeposit.status).toBe(402);
    expect(aboveDeposit.json.error?.code).toBe("INSUFFICIENT_FUNDS");
    expect(await charged(sessionId)).toBe(DEVNET_PRICES.tiny);
    await new Promise((res) => setTimeout(res, 2_500));
    expect(await settled()).toBe(0n);

    // The client, synced with what the gateway charged, acknowledges exactly that.
    const client = new NcnClient({ gatewayUrl: devnet.file.gateway.url, account });
    await expect(client.acknowledge()).rejects.toThrow("acknowledging needs an account and a session");
    client.useSession(sessionId);
    await expect(client.acknowledge()).rejects.toThrow("call registerSession");
    await client.registerSession(sessionId);
    expect(await client.acknowledge()).toBe(DEVNET_PRICES.tiny);
    const until = Date.now() + 30_000;
    while ((await settled()) < DEVNET_PRICES.tiny && Date.now() < until)
      await new Promise((res) => setTimeout(res, 250));
    expect(await settled()).toBe(DEVNET_PRICES.tiny);
    expect(await charged(sessionId)).toBe(DEVNET_PRICES.tiny);
  }, 90_000);

  test("a charge the client never acknowledges is released unpaid, and reported as such", async () => {
    const { sessionId } = await victim();
    const account = privateKeyToAccount(devnet.file.client.privateKey as `0x${string}`);
    const q = await devnet.client.quote("default", "tiny-mlp");
    const domain = ncnDomain(q.chainId, q.paymentContract as `0x${string}`);
    const over = 2n * DEVNET_PRICES.tiny;
    const sig = await account.signTypedData(
      typedData(domain, "Voucher", { sessionId, cumulativeAmount: over }),
    );
    const r = await post("/v1/inference", body(`unacked-${Date.now()}`, sessionId, over, sig));
    expect(r.status).toBe(200);
    const standing = () => new NcnClient({ gatewayUrl: devnet.file.gateway.url }).registerSession(sessionId);
    expect((await standing()).charged).toBe(DEVNET_PRICES.tiny.toString());
    // No voucher ever equals the one charge: once the bound has passed it is given up.
    const until = Date.now() + RELEASE_AFTER_MS + 20_000;
    while ((await standing()).released === "0" && Date.now() < until)
      await new Promise((res) => setTimeout(res, 500));
    const s = await standing();
    expect(s.released).toBe(DEVNET_PRICES.tiny.toString());
    expect(s.unacknowledged).toBe(DEVNET_PRICES.tiny.toString());
    expect(s.charged).toBe("0");
    const read = createNcnReadClient({
      rpcUrl: devnet.file.chain.rpcUrl,
      chainId: devnet.file.chain.chainId,
    });
    expect((await readSession(read, devnet.chain.contracts, sessionId)).settled).toBe(0n);
    const network = (await (await fetch(`${devnet.file.gateway.url}/v1/network`)).json()) as {
      settlement: { released: { recent: { requestId: string; reason: string }[] } };
    };
    expect(network.settlement.released.recent.some((x) => x.reason === "unacknowledged")).toBe(true);
  }, 90_000);
});

describe("a request belongs to its payer", () => {
  test("strangers cannot read, follow, cancel or re-submit a request; its payer can", async () => {
    const { client, sessionId, sent } = await victim();
    const requestId = `mine-${Date.now()}`;
    const { response } = await client.infer({ subnet: "default", model: "tiny-mlp", inputs: x, requestId });
    expect(response.state).toBe("returned");
    const url = `${devnet.file.gateway.url}/v1/inference/${requestId}`;

    // Anonymous: 401, nothing of the result.
    const anon = await fetch(url);
    expect(anon.status).toBe(401);
    expect(JSON.stringify(await anon.json())).not.toContain("outputs");
    expect((await fetch(`${url}/events`)).status).toBe(401);

    // A stranger's own, valid RequestAccess signature: 403.
    const stranger = privateKeyToAccount(generatePrivateKey());
    const gw = (await (await fetch(`${devnet.file.gateway.url}/v1/gateway`)).json()) as {
      chainId: number;
      paymentContract: `0x${string}`;
      gateway: `0x${string}`;
    };
    const domain = ncnDomain(gw.chainId, gw.paymentContract);
    const strangerSig = await stranger.signTypedData(requestAccessData(domain, requestId, gw.gateway));
    const read = await fetch(url, { headers: { [REQUEST_ACCESS_HEADER]: strangerSig } });
    expect(read.status).toBe(403);
    expect(JSON.stringify(await read.json())).not.toContain("outputs");
    const cancel = await fetch(url, { method: "DELETE", headers: { [REQUEST_ACCESS_HEADER]: strangerSig } });
    expect(cancel.status).toBe(403);
    const events = await fetch(`${url}/events?access=${strangerSig}`);
    expect(events.status).toBe(403);
    // Re-submitting the id (even with the very body the client sent) returns nothing of it.
    const original = sent.find(
      (b) =>
        typeof b === "object" &&
        b !== null &&
        "requestId" in b &&
        (b as { requestId: string }).requestId === requestId,
    );
    const again = await post("/v1/inference", original);
    expect(again.status).toBe(409);
    expect(JSON.stringify(again.json)).not.toContain("outputs");
    const againSigned = await post("/v1/inference", original, { [REQUEST_ACCESS_HEADER]: strangerSig });
    expect(againSigned.status).toBe(409);

    // The payer reads it, with its result.
    const mine = await client.status(requestId);
    expect(mine.state).toBe("returned");
    expect(mine.result?.kind).toBe("tensor");
    expect(await charged(sessionId)).toBe(DEVNET_PRICES.tiny);
  }, 60_000);
});

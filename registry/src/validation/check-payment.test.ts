import { expect, test } from "bun:test";
import { ncnDomain } from "@ncn/protocol";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";
import { memoryPaymentReader, signVoucher } from "../test-support/stream.ts";
import { checkPayment } from "./check-payment.ts";

const domain = ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
const gateway = privateKeyToAccount(generatePrivateKey()).address.toLowerCase() as `0x${string}`;
const client = privateKeyToAccount(generatePrivateKey());
const sessionId = `0x${"5e".repeat(32)}` as const;

function setup() {
  const reader = memoryPaymentReader(domain);
  reader.sessions.set(sessionId, {
    client: client.address.toLowerCase() as `0x${string}`,
    gateway,
    deposit: 1000n,
    settled: 0n,
    expiry: reader.chainNow + 3600n,
    closed: false,
  });
  const sessionReads = () => reader.reads;
  const pay = async (amount: bigint, ttl: number, by: PrivateKeyAccount = client) =>
    checkPayment(
      reader,
      {
        requestId: `0x${"01".repeat(32)}`,
        subnetId: `0x${"02".repeat(32)}`,
        price: 10n,
        deadline: Date.now() + 60_000,
        payment: {
          mode: "session",
          sessionId,
          cumulativeAmount: amount.toString(),
          signature: await signVoucher(by, domain, sessionId, amount),
        } as never,
        gateway,
      },
      ttl,
    );
  return { reader, sessionReads, pay };
}

test("a busy session's per-request checks read the chain once per window, not per request", async () => {
  const { reader, sessionReads, pay } = setup();
  for (let i = 1; i <= 20; i++) await pay(10n * BigInt(i), 60_000);
  // One read of the session and one of the chain's time, for twenty requests.
  expect(sessionReads()).toBe(2);
  // With no window, every request reads both.
  const before = reader.reads;
  await pay(500n, 0);
  expect(reader.reads - before).toBe(2);
});

test("what the remembered state refuses is read again: a session topped up meanwhile is not refused", async () => {
  const { reader, pay } = setup();
  await pay(10n, 60_000);
  const s = reader.sessions.get(sessionId);
  if (!s) throw new Error("no session");
  reader.sessions.set(sessionId, { ...s, deposit: 5000n });
  // 2000 is above the remembered deposit (1000), within the new one.
  await pay(2000n, 60_000);
  // A refusal that the chain confirms stands.
  await expect(pay(9000n, 60_000)).rejects.toMatchObject({ code: "INSUFFICIENT_FUNDS" });
});

test("a voucher signed by the session's API key meets the signer named now: a revoked key counts at once", async () => {
  const { reader, pay } = setup();
  const s = reader.sessions.get(sessionId);
  if (!s) throw new Error("no session");
  const key = privateKeyToAccount(generatePrivateKey());
  reader.sessions.set(sessionId, { ...s, signer: key.address.toLowerCase() as `0x${string}` });
  const byKey = (amount: bigint) => pay(amount, 60_000, key);
  await byKey(10n);
  await pay(20n, 60_000); // the client's own voucher, from the remembered state
  // Revoked on chain: the next voucher of the key is refused although the state is remembered.
  const { signer: _revoked, ...withoutKey } = { ...s, signer: key.address };
  reader.sessions.set(sessionId, withoutKey);
  await expect(byKey(30n)).rejects.toMatchObject({ code: "SIGNATURE_INVALID" });
  // The client's own vouchers still pass.
  await pay(40n, 60_000);
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { merkleBatch } from "@ncn/protocol";
import { type Address, type Hex, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  batchIdOf,
  closeSession,
  creditOf,
  distributeValidatorFees,
  isBatchSettled,
  openSession,
  readFeePools,
  readSession,
  readSessionSalt,
  type SettlementBatchInput,
  sessionIdOf,
  settleBatch,
  settlementBatchMessage,
  tokenBalance,
  topUpSession,
  withdrawCredits,
} from "./actions/index.ts";
import { revertOf } from "./client.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";
import { paymentDomain, signSettlementBatch, signVoucher } from "./signing.ts";

const WAD = 10n ** 18n;
const clientKey = devKey("client");
const otherClientKey = devKey("client-2");
const gatewayKey = devKey("gateway");
const nodes = [devKey("node-0"), devKey("node-1")].map((k) => privateKeyToAccount(k).address);
const addr = (key: Hex): Address => privateKeyToAccount(key).address;

let chain: LocalChain;
let now: bigint;

beforeAll(async () => {
  chain = await startLocalChain({
    deploy: {
      fund: [
        { address: addr(clientKey), tokens: 1_000n * WAD, ether: WAD },
        { address: addr(otherClientKey), tokens: 1_000n * WAD, ether: WAD },
        { address: addr(gatewayKey), ether: WAD },
        { address: nodes[0] as Address, ether: WAD },
      ],
    },
  });
  const block = await chain.client(chain.deployerKey).getBlock();
  now = block.timestamp;
});
afterAll(() => chain.stop());

const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);

async function validatorSignatures(batch: SettlementBatchInput, count = 3): Promise<Hex[]> {
  const message = settlementBatchMessage(batch);
  return Promise.all(
    chain.validatorKeys.slice(0, count).map((k) => signSettlementBatch(chain.client(k), domain(), message)),
  );
}

async function voucher(key: Hex, sessionId: Hex, salt: Hex, cumulativeAmount: bigint) {
  const signature = await signVoucher(chain.client(key), domain(), { sessionId, cumulativeAmount });
  return { sessionId, salt, cumulativeAmount, signature };
}

describe("sessions and batch settlement", () => {
  test("open (approve, then permit), settle two sessions in one batch, settle again, close after expiry", async () => {
    const client = chain.client(clientKey);
    const other = chain.client(otherClientKey);
    const gateway = addr(gatewayKey);
    const expiry = now + 3_600n;

    const a = await openSession(client, chain.contracts, { gateway, amount: 100n * WAD, expiry });
    expect(a.sessionId).toBe(sessionIdOf(addr(clientKey), gateway, a.salt));
    const b = await openSession(other, chain.contracts, {
      gateway,
      amount: 50n * WAD,
      expiry,
      salt: toHex(7n, { size: 32 }),
      approval: "permit",
    });
    // Whoever settles finds each session's salt in its SessionOpened event.
    expect(await readSessionSalt(client, chain.contracts, { sessionId: a.sessionId })).toBe(a.salt);
    expect(await readSessionSalt(client, chain.contracts, { sessionId: b.sessionId })).toBe(
      toHex(7n, { size: 32 }),
    );
    expect(await readSessionSalt(client, chain.contracts, { sessionId: keccak256("0x01") })).toBeNull();
    expect(await readSession(client, chain.contracts, a.sessionId)).toEqual({
      deposit: 100n * WAD,
      settled: 0n,
      expiry,
      client: addr(clientKey),
      closed: false,
      gateway,
    });

    // 30 receipts, summarised by their Merkle root; node 0 earned 25 NCN, node 1 earned 15.
    const receipts = merkleBatch(Array.from({ length: 30 }, (_, i) => keccak256(toHex(`receipt-${i}`))));
    const batch1: SettlementBatchInput = {
      batchId: batchIdOf(1),
      gateway,
      receiptsRoot: receipts.root,
      vouchers: [
        await voucher(clientKey, a.sessionId, a.salt, 30n * WAD),
        await voucher(otherClientKey, b.sessionId, b.salt, 10n * WAD),
      ],
      payouts: [
        { node: nodes[0] as Address, amount: 25n * WAD },
        { node: nodes[1] as Address, amount: 15n * WAD },
      ],
    };
    const settled = await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: batch1,
      validatorSignatures: await validatorSignatures(batch1),
    });
    expect(settled.total).toBe(40n * WAD);
    expect(await isBatchSettled(client, chain.contracts, { gateway, batchId: batchIdOf(1) })).toBe(true);
    expect(await isBatchSettled(client, chain.contracts, { gateway, batchId: batchIdOf(2) })).toBe(false);
    // fees 5% gateway, 3% validators, 2% protocol: nodes keep 90%
    expect(await creditOf(client, chain.contracts, nodes[0] as Address)).toBe((25n * WAD * 9n) / 10n);
    expect(await creditOf(client, chain.contracts, nodes[1] as Address)).toBe((15n * WAD * 9n) / 10n);
    expect(await creditOf(client, chain.contracts, gateway)).toBe((40n * WAD) / 20n);
    expect(await readFeePools(client, chain.contracts)).toEqual({
      validatorFees: (40n * WAD * 3n) / 100n,
      protocolFees: (40n * WAD * 2n) / 100n,
    });
    expect((await readSession(client, chain.contracts, a.sessionId)).settled).toBe(30n * WAD);

    // The same batch id again is refused, whatever it carries.
    const replay = {
      ...batch1,
      vouchers: [await voucher(clientKey, a.sessionId, a.salt, 31n * WAD)],
      payouts: [{ node: nodes[0] as Address, amount: WAD }],
    };
    const replayError = await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: replay,
      validatorSignatures: await validatorSignatures(replay),
    }).catch((e: unknown) => e);
    expect(revertOf(replayError)?.errorName).toBe("BatchAlreadySettled");

    // A stale voucher (not above what is settled) is refused.
    const stale: SettlementBatchInput = {
      ...batch1,
      batchId: batchIdOf(2),
      vouchers: batch1.vouchers.slice(0, 1),
      payouts: [{ node: nodes[0] as Address, amount: 30n * WAD }],
    };
    const staleError = await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: stale,
      validatorSignatures: await validatorSignatures(stale),
    }).catch((e: unknown) => e);
    expect(revertOf(staleError)?.errorName).toBe("VoucherNotIncreasing");

    // Two validators are not enough (threshold 3).
    const next: SettlementBatchInput = {
      ...batch1,
      batchId: batchIdOf(2),
      vouchers: [await voucher(clientKey, a.sessionId, a.salt, 45n * WAD)],
      payouts: [{ node: nodes[1] as Address, amount: 15n * WAD }],
    };
    const fewError = await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: next,
      validatorSignatures: await validatorSignatures(next, 2),
    }).catch((e: unknown) => e);
    expect(revertOf(fewError)).toEqual({ errorName: "InsufficientAttestations", args: [2n, 3n] });
    await settleBatch(chain.client(gatewayKey), chain.contracts, {
      batch: next,
      validatorSignatures: await validatorSignatures(next),
    });
    expect((await readSession(client, chain.contracts, a.sessionId)).settled).toBe(45n * WAD);

    // Top up and extend, then close after expiry + grace: the unspent rest goes back.
    await topUpSession(client, chain.contracts, {
      sessionId: a.sessionId,
      amount: 20n * WAD,
      expiry: expiry + 60n,
    });
    expect((await readSession(client, chain.contracts, a.sessionId)).deposit).toBe(120n * WAD);
    const early = await closeSession(chain.client(gatewayKey), chain.contracts, a.sessionId).catch(
      (e: unknown) => e,
    );
    expect(revertOf(early)?.errorName).toBe("SessionNotClosable");
    await chain.advanceTime(3_600 + 60 + 3_600);
    const before = await tokenBalance(client, chain.contracts, addr(clientKey));
    const closed = await closeSession(chain.client(gatewayKey), chain.contracts, a.sessionId);
    expect(closed.refund).toBe(75n * WAD);
    expect(await tokenBalance(client, chain.contracts, addr(clientKey))).toBe(before + 75n * WAD);
    expect(await readSession(client, chain.contracts, a.sessionId)).toMatchObject({
      closed: true,
      deposit: 45n * WAD,
    });

    // Withdrawals: the node takes its credit minus the 1 wei that keeps its slot warm.
    const node0 = chain.client(devKey("node-0"));
    const credit = await creditOf(node0, chain.contracts, nodes[0] as Address);
    const w = await withdrawCredits(node0, chain.contracts);
    expect(w.amount).toBe(credit - 1n);
    expect(await tokenBalance(node0, chain.contracts, nodes[0] as Address)).toBe(credit - 1n);
    expect(await creditOf(node0, chain.contracts, nodes[0] as Address)).toBe(1n);

    // Validator fees are shared by the five active validators.
    const pool = (await readFeePools(client, chain.contracts)).validatorFees;
    const d = await distributeValidatorFees(chain.client(gatewayKey), chain.contracts);
    expect(d.amountEach).toBe(pool / 5n);
    expect(await creditOf(client, chain.contracts, addr(chain.validatorKeys[4] as Hex))).toBe(pool / 5n);
  });
});

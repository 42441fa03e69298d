import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Address, type Hex, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  abandonBatch,
  batchIdOf,
  creditOf,
  isBatchSettled,
  openSession,
  readBatchAbandoned,
  readBatchStatus,
  readSession,
  type SettlementBatchInput,
  settleBatch,
  settlementBatchMessage,
} from "./actions/index.ts";
import { revertOf } from "./client.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";
import { paymentDomain, signSettlementBatch, signVoucher } from "./signing.ts";

const WAD = 10n ** 18n;
const clientKey = devKey("abandon-client");
const gatewayKey = devKey("abandon-gateway");
const strangerKey = devKey("abandon-stranger");
const node = privateKeyToAccount(devKey("abandon-node")).address;
const addr = (key: Hex): Address => privateKeyToAccount(key).address;

let chain: LocalChain;
let session: { sessionId: Hex; salt: Hex };

beforeAll(async () => {
  chain = await startLocalChain({
    deploy: {
      fund: [
        { address: addr(clientKey), tokens: 100n * WAD, ether: WAD },
        { address: addr(gatewayKey), ether: WAD },
        { address: addr(strangerKey), ether: WAD },
      ],
    },
  });
  const now = (await chain.client(chain.deployerKey).getBlock()).timestamp;
  session = await openSession(chain.client(clientKey), chain.contracts, {
    gateway: addr(gatewayKey),
    amount: 100n * WAD,
    expiry: now + 3_600n,
  });
});
afterAll(() => chain.stop());

/**
 * A batch raising the session to `cumulative` and paying the increase `payout` to the node, with the
 * session's voucher and 3 of 5 validators.
 */
async function signedBatch(batchId: Hex, cumulative: bigint, payout = cumulative) {
  const domain = paymentDomain(chain.deployment.chainId, chain.contracts.payment);
  const signature = await signVoucher(chain.client(clientKey), domain, {
    sessionId: session.sessionId,
    cumulativeAmount: cumulative,
  });
  const batch: SettlementBatchInput = {
    batchId,
    gateway: addr(gatewayKey),
    receiptsRoot: keccak256(toHex(`receipts of ${batchId}`)),
    vouchers: [{ ...session, cumulativeAmount: cumulative, signature }],
    payouts: [{ node, amount: payout }],
  };
  const message = settlementBatchMessage(batch);
  const validatorSignatures = await Promise.all(
    chain.validatorKeys.slice(0, 3).map((k) => signSettlementBatch(chain.client(k), domain, message)),
  );
  return { batch, validatorSignatures };
}

describe("abandonBatch", () => {
  test("an abandoned batch id reads as spent and abandoned, and its signed batch can never settle", async () => {
    const gateway = chain.client(gatewayKey);
    const reader = chain.client(clientKey);
    const ids = { gateway: addr(gatewayKey), batchId: batchIdOf(1) };
    const signed = await signedBatch(batchIdOf(1), 10n * WAD);
    expect(await readBatchAbandoned(reader, chain.contracts, ids)).toBe(false);
    expect(await readBatchStatus(reader, chain.contracts, ids)).toBe("open");

    await abandonBatch(gateway, chain.contracts, { batchId: batchIdOf(1) });
    expect(await readBatchAbandoned(reader, chain.contracts, ids)).toBe(true);
    expect(await isBatchSettled(reader, chain.contracts, ids)).toBe(true);
    expect(await readBatchStatus(reader, chain.contracts, ids)).toBe("abandoned");

    const settleError = await settleBatch(gateway, chain.contracts, signed).catch((e: unknown) => e);
    expect(revertOf(settleError)).toEqual({
      errorName: "BatchAlreadySettled",
      args: [ids.gateway, ids.batchId],
    });
    expect((await readSession(reader, chain.contracts, session.sessionId)).settled).toBe(0n);
    expect(await creditOf(reader, chain.contracts, node)).toBe(0n);

    const again = await abandonBatch(gateway, chain.contracts, { batchId: batchIdOf(1) }).catch(
      (e: unknown) => e,
    );
    expect(revertOf(again)?.errorName).toBe("BatchAlreadySettled");
  });

  test("a settled batch id cannot be abandoned and reads as not abandoned", async () => {
    const gateway = chain.client(gatewayKey);
    const ids = { gateway: addr(gatewayKey), batchId: batchIdOf(2) };
    await settleBatch(gateway, chain.contracts, await signedBatch(batchIdOf(2), 10n * WAD));
    const error = await abandonBatch(gateway, chain.contracts, { batchId: batchIdOf(2) }).catch(
      (e: unknown) => e,
    );
    expect(revertOf(error)).toEqual({ errorName: "BatchAlreadySettled", args: [ids.gateway, ids.batchId] });
    expect(await isBatchSettled(gateway, chain.contracts, ids)).toBe(true);
    expect(await readBatchAbandoned(gateway, chain.contracts, ids)).toBe(false);
    expect(await readBatchStatus(gateway, chain.contracts, ids)).toBe("settled");
  });

  test("a stranger abandoning the gateway's next id spends only its own id, the gateway's batch still settles", async () => {
    await abandonBatch(chain.client(strangerKey), chain.contracts, { batchId: batchIdOf(3) });
    const reader = chain.client(clientKey);
    expect(
      await readBatchAbandoned(reader, chain.contracts, {
        gateway: addr(strangerKey),
        batchId: batchIdOf(3),
      }),
    ).toBe(true);
    const ids = { gateway: addr(gatewayKey), batchId: batchIdOf(3) };
    expect(await readBatchAbandoned(reader, chain.contracts, ids)).toBe(false);
    const settled = await settleBatch(
      chain.client(gatewayKey),
      chain.contracts,
      await signedBatch(batchIdOf(3), 25n * WAD, 15n * WAD),
    );
    expect(settled.total).toBe(15n * WAD);
    expect(await isBatchSettled(reader, chain.contracts, ids)).toBe(true);
  });
});

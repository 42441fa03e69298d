import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Address, type Hex, keccak256, toHex, zeroAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  batchIdOf,
  listClientSessions,
  openSession,
  readSession,
  readSessionSigner,
  type SettlementBatchInput,
  setSessionSigner,
  settleBatch,
  settlementBatchMessage,
} from "./actions/index.ts";
import { revertOf } from "./client.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";
import { paymentDomain, signSettlementBatch, signVoucher } from "./signing.ts";

const WAD = 10n ** 18n;
const clientKey = devKey("client");
const delegateKey = devKey("api-key-delegate");
const gatewayKey = devKey("gateway");
const node = privateKeyToAccount(devKey("node-0")).address;
const addr = (key: Hex): Address => privateKeyToAccount(key).address;

let chain: LocalChain;

beforeAll(async () => {
  chain = await startLocalChain({
    deploy: {
      fund: [
        { address: addr(clientKey), tokens: 1_000n * WAD, ether: WAD },
        { address: addr(gatewayKey), ether: WAD },
      ],
    },
  });
});
afterAll(() => chain.stop());

const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);

/** Settles `sessionId` to `cumulative` with a voucher signed by `key`, paying `node` the increase. */
async function settleWith(
  key: Hex,
  sessionId: Hex,
  salt: Hex,
  batch: number,
  cumulative: bigint,
  increase: bigint,
) {
  const signature = await signVoucher(chain.client(key), domain(), {
    sessionId,
    cumulativeAmount: cumulative,
  });
  const input: SettlementBatchInput = {
    batchId: batchIdOf(batch),
    gateway: addr(gatewayKey),
    receiptsRoot: keccak256(toHex(`root-${batch}`)),
    vouchers: [{ sessionId, salt, cumulativeAmount: cumulative, signature }],
    payouts: [{ node, amount: increase }],
  };
  const message = settlementBatchMessage(input);
  const validatorSignatures = await Promise.all(
    chain.validatorKeys.slice(0, 3).map((k) => signSettlementBatch(chain.client(k), domain(), message)),
  );
  return settleBatch(chain.client(gatewayKey), chain.contracts, { batch: input, validatorSignatures });
}

describe("a session's delegate voucher signer (API keys)", () => {
  test("opened with a signer, its vouchers settle; revoked, they do not; the client's always do", async () => {
    const client = chain.client(clientKey);
    const block = await client.getBlock();
    const { sessionId, salt } = await openSession(client, chain.contracts, {
      gateway: addr(gatewayKey),
      amount: 10n * WAD,
      expiry: block.timestamp + 3_600n,
      signer: addr(delegateKey),
    });
    expect(await readSessionSigner(client, chain.contracts, sessionId)).toBe(addr(delegateKey));
    expect(await listClientSessions(client, chain.contracts, { client: addr(clientKey) })).toEqual([
      expect.objectContaining({ sessionId, salt, gateway: addr(gatewayKey), deposit: 10n * WAD }),
    ]);

    // Steady state (node, gateway and batch word already written): a client voucher, then a delegate one.
    await settleWith(clientKey, sessionId, salt, 1, WAD, WAD);
    const byClient = await settleWith(clientKey, sessionId, salt, 2, 2n * WAD, WAD);
    const byDelegate = await settleWith(delegateKey, sessionId, salt, 3, 3n * WAD, WAD);
    expect((await readSession(client, chain.contracts, sessionId)).settled).toBe(3n * WAD);
    console.info(
      JSON.stringify({
        component: "contracts:gas",
        settleByClient: byClient.receipt.gasUsed.toString(),
        settleByDelegate: byDelegate.receipt.gasUsed.toString(),
      }),
    );
    expect(byDelegate.receipt.gasUsed - byClient.receipt.gasUsed).toBeLessThan(3_000n);

    // Only the client names or revokes the delegate.
    const stranger = await setSessionSigner(chain.client(delegateKey), chain.contracts, {
      sessionId,
      signer: addr(delegateKey),
    }).catch((e: unknown) => e);
    expect(revertOf(stranger)?.errorName).toBe("NotSessionClient");
    await setSessionSigner(client, chain.contracts, { sessionId, signer: zeroAddress });
    expect(await readSessionSigner(client, chain.contracts, sessionId)).toBeNull();
    const revoked = await settleWith(delegateKey, sessionId, salt, 4, 4n * WAD, WAD).catch((e: unknown) => e);
    expect(revertOf(revoked)?.errorName).toBe("InvalidVoucherSignature");
    await settleWith(clientKey, sessionId, salt, 4, 4n * WAD, WAD);
    expect((await readSession(client, chain.contracts, sessionId)).settled).toBe(4n * WAD);
  }, 60_000);

  test("a permit cannot open a session with a signer (its open has no permit form)", async () => {
    const client = chain.client(clientKey);
    const error = await openSession(client, chain.contracts, {
      gateway: addr(gatewayKey),
      amount: WAD,
      expiry: (await client.getBlock()).timestamp + 3_600n,
      signer: addr(delegateKey),
      approval: "permit",
    }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "INVALID_INPUT", reason: "INVALID_ARGUMENT" });
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { digestOf, idToBytes32, type ReceiptMessage } from "@ncn/protocol";
import { type Address, type Hex, keccak256, toHex } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  completeEscrow,
  creditOf,
  EscrowStatus,
  initiateEscrow,
  readEscrow,
  readFeePools,
  refundExpiredEscrow,
  tokenBalance,
  verifyAttestations,
} from "./actions/index.ts";
import { revertOf } from "./client.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";
import { completionAttestation, paymentDomain, signAttestation } from "./signing.ts";

const WAD = 10n ** 18n;
const clientKey = devKey("escrow-client");
const gatewayKey = devKey("escrow-gateway");
const agentKey = devKey("escrow-agent");
const strangerKey = devKey("escrow-stranger");
const addr = (key: Hex): Address => privateKeyToAccount(key).address;
const subnet = idToBytes32("ocr");

let chain: LocalChain;
let now: bigint;

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
  now = (await chain.client(chain.deployerKey).getBlock()).timestamp;
});
afterAll(() => chain.stop());

const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);

function receiptFor(requestId: Hex, price: bigint): ReceiptMessage {
  return {
    requestId,
    subnetId: subnet,
    modelId: idToBytes32("ppocr-v4"),
    modelHash: keccak256(toHex("model bytes")),
    inputHash: keccak256(toHex(`input ${requestId}`)),
    outputHash: keccak256(toHex(`output ${requestId}`)),
    agent: addr(agentKey),
    price,
    startedAt: now * 1000n,
    finishedAt: now * 1000n + 250n,
  };
}

async function attest(receipt: ReceiptMessage, keys: readonly Hex[]): Promise<Hex[]> {
  const a = completionAttestation(receipt);
  return Promise.all(keys.map((k) => signAttestation(chain.client(k), domain(), a)));
}

describe("per-request escrow", () => {
  test("approve + initiate, then complete with 3 of 5 validators: price split, rest refunded", async () => {
    const client = chain.client(clientKey);
    const requestId = idToBytes32("req-approve");
    await initiateEscrow(client, chain.contracts, {
      requestId,
      subnetId: subnet,
      gateway: addr(gatewayKey),
      amount: 10n * WAD,
      expiry: now + 600n,
    });
    expect(await readEscrow(client, chain.contracts, requestId)).toEqual({
      client: addr(clientKey),
      expiry: now + 600n,
      status: EscrowStatus.Pending,
      gateway: addr(gatewayKey),
      amount: 10n * WAD,
      subnetId: subnet,
    });
    expect(await tokenBalance(client, chain.contracts, addr(clientKey))).toBe(90n * WAD);

    const receipt = receiptFor(requestId, 8n * WAD);
    const signatures = await attest(receipt, chain.validatorKeys.slice(1, 4));
    const digest = digestOf(domain(), "Attestation", completionAttestation(receipt));
    expect(await verifyAttestations(client, chain.contracts, { digest, signatures })).toEqual({
      ok: true,
      count: 3,
      threshold: 3,
    });
    await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt,
      validatorSignatures: signatures,
    });

    expect((await readEscrow(client, chain.contracts, requestId)).status).toBe(EscrowStatus.Completed);
    expect(await tokenBalance(client, chain.contracts, addr(clientKey))).toBe(92n * WAD);
    expect(await creditOf(client, chain.contracts, addr(agentKey))).toBe((8n * WAD * 90n) / 100n);
    expect(await creditOf(client, chain.contracts, addr(gatewayKey))).toBe((8n * WAD * 5n) / 100n);
    expect(await readFeePools(client, chain.contracts)).toEqual({
      validatorFees: (8n * WAD * 3n) / 100n,
      protocolFees: (8n * WAD * 2n) / 100n,
    });

    const again = await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt,
      validatorSignatures: signatures,
    }).catch((e: unknown) => e);
    expect(revertOf(again)).toEqual({ errorName: "RequestNotPending", args: [requestId] });
  });

  test("initiate with a permit (one transaction); repeated signers do not reach the threshold", async () => {
    const client = chain.client(clientKey);
    const requestId = idToBytes32("req-permit");
    const before = await client.getTransactionCount({ address: addr(clientKey) });
    await initiateEscrow(client, chain.contracts, {
      requestId,
      subnetId: subnet,
      gateway: addr(gatewayKey),
      amount: 5n * WAD,
      expiry: now + 600n,
      approval: "permit",
    });
    expect(await client.getTransactionCount({ address: addr(clientKey) })).toBe(before + 1);
    const receipt = receiptFor(requestId, 5n * WAD);
    const [first, second] = await attest(receipt, chain.validatorKeys.slice(0, 2));
    const repeated = [first, first, second, second] as Hex[];
    const err = await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt,
      validatorSignatures: repeated,
    }).catch((e: unknown) => e);
    expect(revertOf(err)).toEqual({ errorName: "InsufficientAttestations", args: [2n, 3n] });
    const outsider = await attest(receipt, [devKey("not-a-validator")]);
    const err2 = await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt,
      validatorSignatures: [...repeated, ...outsider],
    }).catch((e: unknown) => e);
    expect(revertOf(err2)?.errorName).toBe("InsufficientAttestations");
  });

  test("a tampered receipt does not match the validators' attestation", async () => {
    const client = chain.client(clientKey);
    const requestId = idToBytes32("req-tamper");
    await initiateEscrow(client, chain.contracts, {
      requestId,
      subnetId: subnet,
      gateway: addr(gatewayKey),
      amount: 5n * WAD,
      expiry: now + 600n,
    });
    const honest = receiptFor(requestId, 1n * WAD);
    const signatures = await attest(honest, chain.validatorKeys.slice(0, 3));
    const err = await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt: { ...honest, price: 5n * WAD },
      validatorSignatures: signatures,
    }).catch((e: unknown) => e);
    expect(revertOf(err)).toEqual({ errorName: "InsufficientAttestations", args: [0n, 3n] });
  });

  test("a stranger who learns the request id cannot complete the escrow with a forged receipt; its gateway can", async () => {
    const client = chain.client(clientKey);
    const requestId = idToBytes32("req-stolen-id");
    await initiateEscrow(client, chain.contracts, {
      requestId,
      subnetId: subnet,
      gateway: addr(gatewayKey),
      amount: 10n * WAD,
      expiry: now + 600n,
    });
    // The thief's receipt pays itself the whole escrow, attested by a full quorum.
    const forged = { ...receiptFor(requestId, 10n * WAD), agent: addr(strangerKey) };
    const err = await completeEscrow(chain.client(strangerKey), chain.contracts, {
      receipt: forged,
      validatorSignatures: await attest(forged, chain.validatorKeys.slice(0, 5)),
    }).catch((e: unknown) => e);
    expect(revertOf(err)).toEqual({ errorName: "NotEscrowGateway", args: [requestId, addr(strangerKey)] });
    expect((await readEscrow(client, chain.contracts, requestId)).status).toBe(EscrowStatus.Pending);
    expect(await creditOf(client, chain.contracts, addr(strangerKey))).toBe(0n);

    const before = await tokenBalance(client, chain.contracts, addr(clientKey));
    const honest = receiptFor(requestId, 3n * WAD);
    await completeEscrow(chain.client(gatewayKey), chain.contracts, {
      receipt: honest,
      validatorSignatures: await attest(honest, chain.validatorKeys.slice(0, 3)),
    });
    expect((await readEscrow(client, chain.contracts, requestId)).status).toBe(EscrowStatus.Completed);
    expect(await tokenBalance(client, chain.contracts, addr(clientKey))).toBe(before + 7n * WAD);
  });

  test("after expiry anyone refunds the client, exactly once", async () => {
    const client = chain.client(clientKey);
    const requestId = idToBytes32("req-expire");
    await initiateEscrow(client, chain.contracts, {
      requestId,
      subnetId: subnet,
      gateway: addr(gatewayKey),
      amount: 3n * WAD,
      expiry: now + 900n,
    });
    const early = await refundExpiredEscrow(chain.client(gatewayKey), chain.contracts, requestId).catch(
      (e: unknown) => e,
    );
    expect(revertOf(early)?.errorName).toBe("RequestNotExpired");
    const before = await tokenBalance(client, chain.contracts, addr(clientKey));
    await chain.advanceTime(1_000);
    await refundExpiredEscrow(chain.client(gatewayKey), chain.contracts, requestId);
    expect(await tokenBalance(client, chain.contracts, addr(clientKey))).toBe(before + 3n * WAD);
    expect((await readEscrow(client, chain.contracts, requestId)).status).toBe(EscrowStatus.Refunded);
    const twice = await refundExpiredEscrow(chain.client(gatewayKey), chain.contracts, requestId).catch(
      (e: unknown) => e,
    );
    expect(revertOf(twice)?.errorName).toBe("RequestNotPending");
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  AttestationPhase,
  digestOf,
  idToBytes32,
  type ReceiptMessage,
  type SettlementBatchMessage,
  structHashOf,
} from "@ncn/protocol";
import { type Address, encodePacked, type Hex, keccak256, recoverTypedDataAddress, slice } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "./abi/inference-payment.ts";
import { settlementBatchArgs, settlementBatchMessage } from "./actions/index.ts";
import { devKey, type LocalChain, startLocalChain } from "./dev/local-chain.ts";
import { completionAttestation, paymentDomain, signVoucher } from "./signing.ts";

// Deterministic pseudo-random words, so a failure names the case that broke.
const word = (label: string, i: number): Hex =>
  keccak256(encodePacked(["string", "uint256"], [label, BigInt(i)]));
const address = (label: string, i: number): Address => slice(word(label, i), 12);
const uint = (label: string, i: number, bits: bigint): bigint => BigInt(word(label, i)) % (1n << bits);

function receiptCase(i: number): ReceiptMessage {
  return {
    requestId: idToBytes32(`request-${i}`),
    subnetId: idToBytes32(`subnet-${i % 3}`),
    modelId: idToBytes32(`model-${i % 5}`),
    modelHash: word("modelHash", i),
    inputHash: word("input", i),
    outputHash: word("output", i),
    agent: address("agent", i),
    price: uint("price", i, i % 2 === 0 ? 96n : 256n),
    startedAt: uint("start", i, 64n),
    finishedAt: uint("finish", i, 64n),
  };
}

let chain: LocalChain;
beforeAll(async () => {
  chain = await startLocalChain({ validators: 0 });
});
afterAll(() => chain.stop());

const read = <F extends "receiptDigest" | "completionDigest" | "attestationDigest" | "voucherDigest">(
  functionName: F,
  args: unknown[],
) =>
  readContract(chain.client(chain.deployerKey), {
    address: chain.contracts.payment,
    abi: inferencePaymentAbi,
    functionName,
    args,
  } as never) as Promise<Hex>;

describe("EIP-712 digests: protocol (TS) and InferencePayment (Solidity) agree", () => {
  const domain = () => paymentDomain(chain.deployment.chainId, chain.contracts.payment);

  test("InferenceReceipt", async () => {
    for (let i = 0; i < 12; i++) {
      const r = receiptCase(i);
      expect({ i, digest: await read("receiptDigest", [r]) }).toEqual({
        i,
        digest: digestOf(domain(), "InferenceReceipt", r),
      });
    }
  });

  test("completion Attestation of a receipt (subject = receipt struct hash)", async () => {
    for (let i = 0; i < 12; i++) {
      const r = receiptCase(i);
      const attestation = completionAttestation(r);
      expect(attestation.subject).toBe(structHashOf("InferenceReceipt", r));
      expect({ i, digest: await read("completionDigest", [r]) }).toEqual({
        i,
        digest: digestOf(domain(), "Attestation", attestation),
      });
    }
  });

  test("Attestation, both phases", async () => {
    for (let i = 0; i < 8; i++) {
      const a = {
        requestId: word("req", i),
        phase: i % 2 === 0 ? AttestationPhase.Preprocess : AttestationPhase.Completion,
        subject: word("subject", i),
        outputHash: i % 2 === 0 ? (`0x${"00".repeat(32)}` as const) : word("out", i),
      };
      const onChain = await read("attestationDigest", [a.requestId, a.phase, a.subject, a.outputHash]);
      expect({ i, digest: onChain }).toEqual({ i, digest: digestOf(domain(), "Attestation", a) });
    }
  });

  test("Voucher, and a viem signature of it recovers to the client", async () => {
    const client = chain.client(devKey("client"));
    for (let i = 0; i < 8; i++) {
      const voucher = { sessionId: word("session", i), cumulativeAmount: uint("amount", i, 96n) };
      const digest = digestOf(domain(), "Voucher", voucher);
      expect(await read("voucherDigest", [voucher.sessionId, voucher.cumulativeAmount])).toBe(digest);
      const signature = await signVoucher(client, domain(), voucher);
      const signer = await recoverTypedDataAddress({
        domain: domain(),
        types: {
          Voucher: [
            { name: "sessionId", type: "bytes32" },
            { name: "cumulativeAmount", type: "uint256" },
          ],
        },
        primaryType: "Voucher",
        message: voucher,
        signature,
      });
      expect(signer).toBe(privateKeyToAccount(devKey("client")).address);
    }
  });

  test("SettlementBatch, with vouchersHash and payoutsHash over the batch arrays", async () => {
    for (const [sessions, nodes] of [
      [1, 1],
      [3, 2],
      [7, 11],
    ] as const) {
      const batch = {
        batchId: word("batch", sessions),
        gateway: address("gateway", nodes),
        receiptsRoot: word("root", sessions * nodes),
        vouchers: Array.from({ length: sessions }, (_, i) => ({
          sessionId: word("sid", i),
          salt: word("salt", i),
          cumulativeAmount: uint("cum", i, 96n),
          signature: `0x${"11".repeat(65)}` as const,
        })),
        payouts: Array.from({ length: nodes }, (_, i) => ({
          node: address("node", i),
          amount: uint("pay", i, 90n),
        })),
      };
      const message: SettlementBatchMessage = settlementBatchMessage(batch);
      const [digest, total] = await readContract(chain.client(chain.deployerKey), {
        address: chain.contracts.payment,
        abi: inferencePaymentAbi,
        functionName: "settlementDigest",
        args: [settlementBatchArgs(batch)],
      });
      expect(total).toBe(message.total);
      expect(digest).toBe(digestOf(domain(), "SettlementBatch", message));
    }
  });
});

import { describe, expect, test } from "bun:test";
import {
  encodeAbiParameters,
  hashTypedData,
  keccak256,
  recoverTypedDataAddress,
  stringToHex,
  toHex,
} from "viem";
import { privateKeyToAccount } from "viem/accounts";
import {
  AttestationPhase,
  digestOf,
  eip712Types,
  idToBytes32,
  ncnDomain,
  payoutsHash,
  type ReceiptMessage,
  structHashOf,
  typedData,
  vouchersHash,
} from "./eip712.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
const key = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d" as const;
const account = privateKeyToAccount(key);

const receipt: ReceiptMessage = {
  requestId: idToBytes32("req-1"),
  subnetId: idToBytes32("ocr"),
  modelId: idToBytes32("ppocr-v4"),
  modelHash: keccak256(toHex("model")),
  inputHash: keccak256(toHex("in")),
  outputHash: keccak256(toHex("out")),
  agent: account.address,
  price: 1000n,
  startedAt: 1_700_000_000_000n,
  finishedAt: 1_700_000_000_050n,
};

// Independent encoding, the way Solidity computes it: type strings written out by hand.
const h = (s: string) => keccak256(stringToHex(s));
const DOMAIN_TYPEHASH = h(
  "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)",
);
const domainSeparator = keccak256(
  encodeAbiParameters(
    [{ type: "bytes32" }, { type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }, { type: "address" }],
    [DOMAIN_TYPEHASH, h("NCN Network"), h("1"), 31337n, domain.verifyingContract],
  ),
);
const digest = (structHash: `0x${string}`) =>
  keccak256(`0x1901${domainSeparator.slice(2)}${structHash.slice(2)}` as `0x${string}`);

describe("EIP-712", () => {
  test("InferenceReceipt digest matches viem and a hand-written Solidity-style encoding", () => {
    const typehash = h(
      "InferenceReceipt(bytes32 requestId,bytes32 subnetId,bytes32 modelId,bytes32 modelHash,bytes32 inputHash,bytes32 outputHash,address agent,uint256 price,uint64 startedAt,uint64 finishedAt)",
    );
    const structHash = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "address" },
          { type: "uint256" },
          { type: "uint64" },
          { type: "uint64" },
        ],
        [
          typehash,
          receipt.requestId,
          receipt.subnetId,
          receipt.modelId,
          receipt.modelHash,
          receipt.inputHash,
          receipt.outputHash,
          receipt.agent,
          receipt.price,
          receipt.startedAt,
          receipt.finishedAt,
        ],
      ),
    );
    expect(structHashOf("InferenceReceipt", receipt)).toBe(structHash);
    const viemDigest = hashTypedData({
      domain,
      types: eip712Types,
      primaryType: "InferenceReceipt",
      message: receipt,
    });
    expect(digestOf(domain, "InferenceReceipt", receipt)).toBe(viemDigest);
    expect(viemDigest).toBe(digest(structHash));
  });

  test("Attestation, Voucher and SettlementBatch digests match the hand encoding", () => {
    const att = {
      requestId: receipt.requestId,
      phase: AttestationPhase.Completion,
      subject: structHashOf("InferenceReceipt", receipt),
      outputHash: receipt.outputHash,
    };
    const attHash = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "uint8" },
          { type: "bytes32" },
          { type: "bytes32" },
        ],
        [
          h("Attestation(bytes32 requestId,uint8 phase,bytes32 subject,bytes32 outputHash)"),
          att.requestId,
          1,
          att.subject,
          att.outputHash,
        ],
      ),
    );
    expect(digestOf(domain, "Attestation", att)).toBe(digest(attHash));

    const voucher = { sessionId: idToBytes32("s1"), cumulativeAmount: 5n * 10n ** 18n };
    const vHash = keccak256(
      encodeAbiParameters(
        [{ type: "bytes32" }, { type: "bytes32" }, { type: "uint256" }],
        [
          h("Voucher(bytes32 sessionId,uint256 cumulativeAmount)"),
          voucher.sessionId,
          voucher.cumulativeAmount,
        ],
      ),
    );
    expect(digestOf(domain, "Voucher", voucher)).toBe(digest(vHash));

    const batch = {
      batchId: idToBytes32("b1"),
      gateway: account.address,
      receiptsRoot: keccak256(toHex("root")),
      vouchersHash: vouchersHash([voucher.sessionId], [voucher.cumulativeAmount]),
      payoutsHash: payoutsHash([account.address], [10n]),
      total: 10n,
    };
    const bHash = keccak256(
      encodeAbiParameters(
        [
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "address" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "bytes32" },
          { type: "uint256" },
        ],
        [
          h(
            "SettlementBatch(bytes32 batchId,address gateway,bytes32 receiptsRoot,bytes32 vouchersHash,bytes32 payoutsHash,uint256 total)",
          ),
          batch.batchId,
          batch.gateway,
          batch.receiptsRoot,
          batch.vouchersHash,
          batch.payoutsHash,
          batch.total,
        ],
      ),
    );
    expect(digestOf(domain, "SettlementBatch", batch)).toBe(digest(bHash));
  });

  test("a signature over typedData() recovers to the signer; any field change breaks it", async () => {
    const signature = await account.signTypedData(typedData(domain, "InferenceReceipt", receipt));
    expect(
      await recoverTypedDataAddress({ ...typedData(domain, "InferenceReceipt", receipt), signature }),
    ).toBe(account.address);
    const tampered = { ...receipt, outputHash: keccak256(toHex("other")) };
    expect(
      await recoverTypedDataAddress({ ...typedData(domain, "InferenceReceipt", tampered), signature }),
    ).not.toBe(account.address);
    const otherChain = ncnDomain(1, domain.verifyingContract);
    expect(digestOf(otherChain, "InferenceReceipt", receipt)).not.toBe(
      digestOf(domain, "InferenceReceipt", receipt),
    );
  });

  test("idToBytes32 is keccak256 of the UTF-8 id", () => {
    expect(idToBytes32("ocr")).toBe(keccak256(new TextEncoder().encode("ocr")));
  });
});

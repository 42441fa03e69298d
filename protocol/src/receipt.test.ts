import { describe, expect, test } from "bun:test";
import { ncnDomain } from "./eip712.ts";
import {
  type ReceiptJson,
  receiptDigest,
  receiptDigestReference,
  receiptStructHash,
  receiptStructHashReference,
} from "./receipt.ts";

function hex(bytes: number): `0x${string}` {
  const b = crypto.getRandomValues(new Uint8Array(bytes));
  return `0x${[...b].map((x) => x.toString(16).padStart(2, "0")).join("")}`;
}

function randomReceipt(i: number): ReceiptJson {
  return {
    requestId: hex(32),
    subnetId: hex(32),
    modelId: hex(32),
    modelHash: hex(32),
    inputHash: hex(32),
    outputHash: hex(32),
    agent: hex(20),
    // Edge values as well as ordinary ones: zero, one byte, the largest uint256.
    price: [0n, 255n, 256n, (1n << 256n) - 1n, BigInt(i) * 1_000_000_007n][i % 5]?.toString() ?? "1",
    startedAt: i === 0 ? 0 : Date.now() - i,
    finishedAt: Date.now() + i,
  } as ReceiptJson;
}

describe("receipt digest", () => {
  test("the direct encoding equals the generic EIP-712 encoding", () => {
    const domains = [
      ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3"),
      ncnDomain(1, "0x0000000000000000000000000000000000000001"),
    ];
    for (let i = 0; i < 200; i++) {
      const r = randomReceipt(i);
      const d = domains[i % 2] ?? domains[0];
      if (!d) throw new Error("no domain");
      expect(receiptDigest(d, r)).toBe(receiptDigestReference(d, r));
      expect(receiptStructHash(r)).toBe(receiptStructHashReference(r));
    }
  });

  test("batch and attestation digests equal the generic encoding", async () => {
    const { digestOf } = await import("./eip712.ts");
    const { attestationDigest, receiptBatchDigest } = await import("./receipt.ts");
    const d = ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    for (let i = 0; i < 50; i++) {
      const b = { agent: hex(20), receiptsRoot: hex(32), count: i * 997 };
      expect(receiptBatchDigest(d, b)).toBe(digestOf(d, "ReceiptBatch", b));
      const a = { requestId: hex(32), phase: (i % 2) as 0 | 1, subject: hex(32), outputHash: hex(32) };
      expect(attestationDigest(d, a)).toBe(digestOf(d, "Attestation", a));
    }
  });

  test("every field changes the digest", () => {
    const d = ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const r = randomReceipt(7);
    const base = receiptDigest(d, r);
    for (const key of Object.keys(r) as (keyof ReceiptJson)[]) {
      const v = r[key];
      const changed =
        typeof v === "number"
          ? { ...r, [key]: v + 1 }
          : key === "price"
            ? { ...r, price: (BigInt(v) + 1n).toString() }
            : { ...r, [key]: key === "agent" ? hex(20) : hex(32) };
      expect(receiptDigest(d, changed as ReceiptJson)).not.toBe(base);
    }
  });

  test("a malformed field is refused, not hashed", () => {
    const d = ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    expect(() =>
      receiptDigest(d, { ...randomReceipt(1), agent: "0x1234" } as unknown as ReceiptJson),
    ).toThrow();
  });
});

describe("fast keccak", () => {
  test("the WebAssembly keccak loads here and gives the same digests as the default", async () => {
    const { keccakBytes, useFastKeccak } = await import("./keccak.ts");
    const { keccak256 } = await import("viem");
    const d = ncnDomain(31337, "0x5FbDB2315678afecb367f032d93F642f64180aa3");
    const receipts = Array.from({ length: 20 }, (_, i) => randomReceipt(i));
    const before = receipts.map((r) => receiptDigest(d, r));
    expect(await useFastKeccak()).toBe(true);
    expect(receipts.map((r) => receiptDigest(d, r))).toEqual(before);
    for (const n of [0, 1, 135, 136, 137, 1000, 100_000]) {
      const data = crypto.getRandomValues(new Uint8Array(Math.min(n, 65536)));
      expect(Buffer.from(keccakBytes(data)).toString("hex")).toBe(keccak256(data).slice(2));
    }
  });
});

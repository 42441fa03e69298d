import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { keccak256, recoverAddress, serializeSignature, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount, sign } from "viem/accounts";
import { Address } from "./primitives.ts";
import {
  reputationReportSigningText,
  type UnsignedReputationReport,
  verifyReputationReport,
} from "./reputation.ts";
import { recoverDigest, recoverTextSignerNative, secp256k1Backend, signDigest } from "./secp256k1.ts";
import { recoverTextSigner } from "./text-signer.ts";

describe("secp256k1 digests", () => {
  test("the native binding loads here", () => {
    expect(secp256k1Backend()).toBe("native");
  });

  test("signatures equal viem's and recover to the signer, both ways", async () => {
    for (let i = 0; i < 50; i++) {
      const key = generatePrivateKey();
      const account = privateKeyToAccount(key);
      const digest = keccak256(toHex(`message ${i}`));
      const ours = await signDigest(digest, key);
      expect(ours).toBe(serializeSignature(await sign({ hash: digest, privateKey: key })));
      expect(await recoverDigest(digest, ours)).toBe(account.address);
      expect(await recoverAddress({ hash: digest, signature: ours })).toBe(account.address);
    }
  });

  test("a tampered digest or signature recovers to someone else, or throws", async () => {
    const key = generatePrivateKey();
    const account = privateKeyToAccount(key);
    const digest = keccak256(toHex("x"));
    const sig = await signDigest(digest, key);
    expect(await recoverDigest(keccak256(toHex("y")), sig)).not.toBe(account.address);
    await expect(recoverDigest(digest, "0x1234")).rejects.toThrow();
    await expect(recoverDigest(digest, `${sig.slice(0, -2)}05` as `0x${string}`)).rejects.toThrow();
  });

  test("texts (EIP-191) recover to the address viem recovers; verifiers take the native recovery", async () => {
    for (let i = 0; i < 20; i++) {
      const account = privateKeyToAccount(generatePrivateKey());
      const text = `ncn text ${i}\n${"é".repeat(i)}`;
      const signature = await account.signMessage({ message: text });
      expect(await recoverTextSignerNative(text, signature)).toBe(account.address);
      expect(await recoverTextSigner(text, signature)).toBe(account.address);
      expect(await recoverTextSignerNative(`${text}!`, signature)).not.toBe(account.address);
    }
    await expect(recoverTextSignerNative("x", "0x1234")).rejects.toThrow();
    const reporter = privateKeyToAccount(generatePrivateKey());
    const address = (a: string) => v.parse(Address, a.toLowerCase());
    const unsigned: UnsignedReputationReport = {
      reporter: address(reporter.address),
      at: 1_700_000_000_000,
      events: [
        {
          id: "r1:success",
          agent: address(privateKeyToAccount(generatePrivateKey()).address),
          kind: "success",
          latencyMs: 12,
          at: 1_700_000_000_000,
        },
      ],
    };
    const signature = await reporter.signMessage({ message: reputationReportSigningText(unsigned) });
    const report = { ...unsigned, signature };
    expect((await verifyReputationReport(report, recoverTextSignerNative)).reporter).toBe(unsigned.reporter);
    const forged = { ...report, reporter: privateKeyToAccount(generatePrivateKey()).address.toLowerCase() };
    await expect(verifyReputationReport(forged, recoverTextSignerNative)).rejects.toMatchObject({
      code: "SIGNATURE_INVALID",
    });
  });
});

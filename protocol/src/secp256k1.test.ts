import { describe, expect, test } from "bun:test";
import { keccak256, recoverAddress, serializeSignature, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount, sign } from "viem/accounts";
import { recoverDigest, secp256k1Backend, signDigest } from "./secp256k1.ts";

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
});

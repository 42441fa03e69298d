import { describe, expect, test } from "bun:test";
import { ncnDomain, type SettlementBatchMessage, typedData } from "@ncn/protocol";
import { secp256k1Backend } from "@ncn/protocol/secp256k1";
import { keccak256, recoverMessageAddress, toHex } from "viem";
import { generatePrivateKey, privateKeyToAccount } from "viem/accounts";
import { attestationSigner } from "./attestation-signer.ts";

const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");

describe("a validator's signer", () => {
  test("signs from digests with libsecp256k1 here", () => {
    expect(secp256k1Backend()).toBe("native");
  });

  test("texts and settlement batches are signed to the bytes viem's account signs", async () => {
    for (let i = 0; i < 20; i++) {
      const key = generatePrivateKey();
      const account = privateKeyToAccount(key);
      const signer = attestationSigner(key);
      expect(signer.address).toBe(account.address.toLowerCase() as `0x${string}`);
      const text = `ncn reputation report ${i}\n${"x".repeat(i * 7)}`;
      const signature = await signer.signMessage(text);
      expect(signature).toBe(await account.signMessage({ message: text }));
      expect(await recoverMessageAddress({ message: text, signature })).toBe(account.address);
      const batch: SettlementBatchMessage = {
        batchId: keccak256(toHex(`batch ${i}`)),
        gateway: account.address,
        receiptsRoot: keccak256(toHex(`root ${i}`)),
        vouchersHash: keccak256(toHex(`vouchers ${i}`)),
        payoutsHash: keccak256(toHex(`payouts ${i}`)),
        total: BigInt(i) * 10n ** 18n + 7n,
      };
      expect(await signer.signSettlement(domain, batch)).toBe(
        await account.signTypedData(typedData(domain, "SettlementBatch", batch)),
      );
    }
  });
});

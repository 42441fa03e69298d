import {
  type AttestationMessage,
  type AttestationSig,
  attestationDigest,
  type NcnDomain,
  type SettlementBatchMessage,
  typedData,
} from "@ncn/protocol";
import { signDigest } from "@ncn/protocol/secp256k1";
import type { Hex } from "viem";
import { type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";

/** Signs this validator's EIP-712 attestations. */
export interface AttestationSigner {
  readonly address: `0x${string}`;
  attest(domain: NcnDomain, message: AttestationMessage): Promise<AttestationSig>;
  signSettlement(domain: NcnDomain, message: SettlementBatchMessage): Promise<`0x${string}`>;
  /** EIP-191 signature of a text (validator records, reputation reports). */
  signMessage(text: string): Promise<`0x${string}`>;
}

export function attestationSigner(privateKey: Hex): AttestationSigner {
  const account: PrivateKeyAccount = privateKeyToAccount(privateKey);
  const address = account.address.toLowerCase() as `0x${string}`;
  return {
    address,
    async attest(domain, message) {
      // Signed from the digest (libsecp256k1 when it loads): one per validated batch or request.
      const signature = await signDigest(attestationDigest(domain, message), privateKey);
      return {
        validator: address,
        phase: message.phase,
        subject: message.subject.toLowerCase(),
        outputHash: message.outputHash.toLowerCase(),
        signature,
      } as AttestationSig;
    },
    signSettlement: (domain, message) => account.signTypedData(typedData(domain, "SettlementBatch", message)),
    signMessage: (text) => account.signMessage({ message: text }),
  };
}

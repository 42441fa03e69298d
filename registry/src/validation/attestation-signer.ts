import {
  type AttestationMessage,
  type AttestationSig,
  attestationDigest,
  digestOf,
  type NcnDomain,
  type SettlementBatchMessage,
} from "@ncn/protocol";
import { signDigest } from "@ncn/protocol/secp256k1";
import { type Hex, hashMessage } from "viem";
import { privateKeyToAccount } from "viem/accounts";

/** Signs this validator's EIP-712 attestations. */
export interface AttestationSigner {
  readonly address: `0x${string}`;
  attest(domain: NcnDomain, message: AttestationMessage): Promise<AttestationSig>;
  signSettlement(domain: NcnDomain, message: SettlementBatchMessage): Promise<`0x${string}`>;
  /** EIP-191 signature of a text (validator records, reputation reports). */
  signMessage(text: string): Promise<`0x${string}`>;
}

export function attestationSigner(privateKey: Hex): AttestationSigner {
  const address = privateKeyToAccount(privateKey).address.toLowerCase() as `0x${string}`;
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
    // Every signature from its digest, as above: the same bytes as viem's account would sign.
    signSettlement: (domain, message) => signDigest(digestOf(domain, "SettlementBatch", message), privateKey),
    signMessage: (text) => signDigest(hashMessage(text), privateKey),
  };
}

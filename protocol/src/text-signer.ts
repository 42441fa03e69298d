import { recoverMessageAddress } from "viem";

/**
 * Recovers the address that signed a text (EIP-191). Verifiers take one so that a process
 * checking many signatures can pass a faster one (`recoverTextSignerNative` in
 * `@ncn/protocol/secp256k1`, libsecp256k1); the default is viem's, which runs anywhere.
 */
export type RecoverTextSigner = (message: string, signature: `0x${string}`) => Promise<string>;

export const recoverTextSigner: RecoverTextSigner = (message, signature) =>
  recoverMessageAddress({ message, signature });

import { type Address, type Hex, zeroAddress } from "viem";
import { readContract } from "viem/actions";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import type { ReadClient } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** The delegate, or null when the session names none (never set, revoked, or no such session). */
export type ReadSessionSignerReturnType = Address | null;

/**
 * A session's current delegate voucher signer: the one key besides its client whose vouchers
 * settle it (`setSessionSigner`).
 *
 * @example
 * const delegate = await readSessionSigner(client, contracts, sessionId);
 */
export async function readSessionSigner(
  client: ReadClient,
  contracts: Pick<NcnContracts, "payment">,
  sessionId: Hex,
): Promise<ReadSessionSignerReturnType> {
  const signer = await readContract(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "sessionSignerOf",
    args: [sessionId],
  });
  return signer === zeroAddress ? null : signer;
}

import type { Address, Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

export interface SetSessionSignerParameters {
  sessionId: Hex;
  /** The delegate whose vouchers settle the session besides the client's; the zero address revokes it. */
  signer: Address;
}

export type SetSessionSignerReturnType = { receipt: TransactionReceipt };

/**
 * Names the session's delegate voucher signer (an API key's address), replacing any before, or
 * revokes it with the zero address. Only the session's client may call it (`NotSessionClient`).
 *
 * @example
 * await setSessionSigner(client, contracts, { sessionId, signer: zeroAddress }); // revoke
 */
export async function setSessionSigner(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: SetSessionSignerParameters,
): Promise<SetSessionSignerReturnType> {
  const receipt = await writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "setSessionSigner",
    args: [params.sessionId, params.signer],
  });
  return { receipt };
}

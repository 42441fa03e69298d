import type { Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";
import { approveTokens } from "../token/approve-tokens.ts";
import type { Approval } from "../token/authorize-deposit.ts";

/**
 * Adds funds to a session and/or extends its expiry (0n or omitted keeps it). Client only. There
 * is no permit variant on chain, so the allowance comes from an approve (default) or is in place.
 */
export async function topUpSession(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment" | "token">,
  params: { sessionId: Hex; amount: bigint; expiry?: bigint; approval?: Exclude<Approval, "permit"> },
): Promise<TransactionReceipt> {
  if ((params.approval ?? "approve") === "approve" && params.amount > 0n) {
    await approveTokens(client, contracts, { spender: contracts.payment, amount: params.amount });
  }
  return writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "topUpSession",
    args: [params.sessionId, params.amount, params.expiry ?? 0n],
  });
}

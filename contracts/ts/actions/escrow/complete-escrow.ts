import type { ReceiptMessage } from "@ncn/protocol";
import type { Hex, TransactionReceipt } from "viem";
import { inferencePaymentAbi } from "../../abi/inference-payment.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/**
 * Pays an escrowed request from its receipt and M-of-N validator signatures over its completion
 * attestation. Only the escrow's gateway may send it (`NotEscrowGateway` otherwise).
 */
export async function completeEscrow(
  client: WriteClient,
  contracts: Pick<NcnContracts, "payment">,
  params: { receipt: ReceiptMessage; validatorSignatures: readonly Hex[] },
): Promise<TransactionReceipt> {
  const r = params.receipt;
  return writeAndConfirm(client, {
    address: contracts.payment,
    abi: inferencePaymentAbi,
    functionName: "completeInferenceRequest",
    args: [
      {
        requestId: r.requestId,
        subnetId: r.subnetId,
        modelId: r.modelId,
        modelHash: r.modelHash,
        inputHash: r.inputHash,
        outputHash: r.outputHash,
        agent: r.agent,
        price: r.price,
        startedAt: r.startedAt,
        finishedAt: r.finishedAt,
      },
      params.validatorSignatures,
    ],
  });
}

import type { Address, Hex, TransactionReceipt } from "viem";
import { validatorRegistryAbi } from "../../abi/validator-registry.ts";
import { type WriteClient, writeAndConfirm } from "../../client.ts";
import type { NcnContracts } from "../../deployment.ts";

/** One completion attestation (phase 1) offered as double-sign evidence. */
export interface AttestationEvidence {
  subject: Hex;
  outputHash: Hex;
  signature: Hex;
}

/**
 * Reports two different completion attestations (subject or output hash differ) of one validator for
 * one request id; the sender earns a reward. Preprocess attestations are never evidence.
 */
export async function reportDoubleSign(
  client: WriteClient,
  contracts: Pick<NcnContracts, "registry">,
  params: { validator: Address; requestId: Hex; a: AttestationEvidence; b: AttestationEvidence },
): Promise<TransactionReceipt> {
  return writeAndConfirm(client, {
    address: contracts.registry,
    abi: validatorRegistryAbi,
    functionName: "reportDoubleSign",
    args: [params.validator, params.requestId, params.a, params.b],
  });
}

import {
  type AttestationMessage,
  AttestationPhase,
  type NcnDomain,
  ncnDomain,
  type ReceiptMessage,
  type SettlementBatchMessage,
  structHashOf,
  typedData,
  type VoucherMessage,
} from "@ncn/protocol";
import type { Address, Hex } from "viem";
import { signTypedData } from "viem/actions";
import type { WriteClient } from "./client.ts";

/** EIP-712 domain of a deployment: every protocol signature is bound to the InferencePayment contract. */
export function paymentDomain(chainId: number, payment: Address): NcnDomain {
  return ncnDomain(chainId, payment);
}

/** Signs a session voucher (the client's cumulative spend) with the client's account. */
export function signVoucher(client: WriteClient, domain: NcnDomain, voucher: VoucherMessage): Promise<Hex> {
  return signTypedData(client, { account: client.account, ...typedData(domain, "Voucher", voucher) });
}

/** Signs an inference receipt (what a compute node does for every result). */
export function signReceipt(client: WriteClient, domain: NcnDomain, receipt: ReceiptMessage): Promise<Hex> {
  return signTypedData(client, {
    account: client.account,
    ...typedData(domain, "InferenceReceipt", receipt),
  });
}

/** Signs an attestation (what a validator does). */
export function signAttestation(
  client: WriteClient,
  domain: NcnDomain,
  attestation: AttestationMessage,
): Promise<Hex> {
  return signTypedData(client, { account: client.account, ...typedData(domain, "Attestation", attestation) });
}

/** Signs a settlement batch (what a validator does before a gateway settles). */
export function signSettlementBatch(
  client: WriteClient,
  domain: NcnDomain,
  batch: SettlementBatchMessage,
): Promise<Hex> {
  return signTypedData(client, { account: client.account, ...typedData(domain, "SettlementBatch", batch) });
}

/** The completion attestation of a receipt: subject = struct hash of the receipt, outputHash = its output hash. */
export function completionAttestation(receipt: ReceiptMessage): AttestationMessage {
  return {
    requestId: receipt.requestId,
    phase: AttestationPhase.Completion,
    subject: structHashOf("InferenceReceipt", receipt),
    outputHash: receipt.outputHash,
  };
}

import {
  idToBytes32,
  type NcnDomain,
  ReceiptJson,
  receiptMessage,
  type SignedReceipt,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import type { LocalAccount } from "viem";

export interface ReceiptFields {
  /** Human ids, hashed to bytes32 here. */
  requestId: string;
  subnetId: string;
  modelId: string;
  /** sha256 of the model (or pipeline manifest) as 0x + 64 hex. */
  modelHash: `0x${string}`;
  inputHash: `0x${string}`;
  outputHash: `0x${string}`;
  /** Price in NCN base units, as a decimal string. */
  price: string;
  startedAt: number;
  finishedAt: number;
}

/**
 * Builds the agent's `InferenceReceipt` for a finished task and signs it (EIP-712) with
 * the agent's key over the domain the gateway announced.
 *
 * @example const signed = await signReceipt(account, ncnDomain(31337, contract), fields);
 */
export async function signReceipt(
  account: LocalAccount,
  domain: NcnDomain,
  fields: ReceiptFields,
): Promise<SignedReceipt> {
  const receipt = v.parse(ReceiptJson, {
    requestId: idToBytes32(fields.requestId),
    subnetId: idToBytes32(fields.subnetId),
    modelId: idToBytes32(fields.modelId),
    modelHash: fields.modelHash,
    inputHash: fields.inputHash,
    outputHash: fields.outputHash,
    agent: account.address,
    price: fields.price,
    startedAt: Math.floor(fields.startedAt),
    finishedAt: Math.floor(fields.finishedAt),
  });
  if (!account.signTypedData) throw new Error("account cannot sign typed data");
  const signature = await account.signTypedData(
    typedData(domain, "InferenceReceipt", receiptMessage(receipt)),
  );
  return { receipt, signature: signature.toLowerCase() as SignedReceipt["signature"] };
}

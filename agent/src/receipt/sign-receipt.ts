import {
  idToBytes32,
  type NcnDomain,
  ReceiptJson,
  receiptDigest,
  receiptMessage,
  Signature,
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

// Subnet and model ids repeat on every task: their keccak is kept (a small, bounded set).
const idHashes = new Map<string, `0x${string}`>();

function repeatedIdToBytes32(id: string): `0x${string}` {
  let h = idHashes.get(id);
  if (h === undefined) {
    if (idHashes.size >= 1024) idHashes.clear();
    h = idToBytes32(id);
    idHashes.set(id, h);
  }
  return h;
}

/** The agent's unsigned `InferenceReceipt` for a finished task. */
export function buildReceipt(agent: `0x${string}`, fields: ReceiptFields): ReceiptJson {
  return v.parse(ReceiptJson, {
    requestId: idToBytes32(fields.requestId),
    subnetId: repeatedIdToBytes32(fields.subnetId),
    modelId: repeatedIdToBytes32(fields.modelId),
    modelHash: fields.modelHash,
    inputHash: fields.inputHash,
    outputHash: fields.outputHash,
    agent,
    price: fields.price,
    startedAt: Math.floor(fields.startedAt),
    finishedAt: Math.floor(fields.finishedAt),
  });
}

/**
 * Signs an EIP-712 digest with the account's key: the same signature `signTypedData` gives
 * on the typed data the digest was computed from (`typed`, used by accounts that only sign
 * typed data), without encoding the typed data a second time.
 */
export async function signDigest(
  account: LocalAccount,
  digest: `0x${string}`,
  typed: () => Promise<`0x${string}`>,
): Promise<Signature> {
  return v.parse(Signature, account.sign ? await account.sign({ hash: digest }) : await typed());
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
  const receipt = buildReceipt(account.address, fields);
  const signature = await signDigest(account, receiptDigest(domain, receipt), () =>
    account.signTypedData(typedData(domain, "InferenceReceipt", receiptMessage(receipt))),
  );
  return { receipt, signature };
}

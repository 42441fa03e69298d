import {
  decodeTensorFrame,
  digestOf,
  encodeTensorFrame,
  idToBytes32,
  ncnDomain,
  type ReceiptMessage,
  tensorFromJson,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { percentile, timeIt } from "./stats.ts";

export interface ProtocolFigures {
  tensor_json_roundtrip_ms_p50: number;
  tensor_frame_roundtrip_ms_p50: number;
  frame_vs_json_ratio: number;
  eip712_hash_ms_p50: number;
  eip712_sign_ms_p50: number;
  eip712_recover_ms_p50: number;
}

/** Costs of the per-request protocol work: tensor encodings and EIP-712 signatures. */
export async function benchProtocol(quick: boolean): Promise<ProtocolFigures> {
  const n = quick ? 200 : 2000;
  const t = {
    dtype: "float32" as const,
    dims: [1, 3, 64, 64],
    data: new Float32Array(3 * 64 * 64).map(Math.random),
  };
  const json = await timeIt(() => tensorFromJson(JSON.parse(JSON.stringify(tensorToJson(t)))), n);
  const frame = await timeIt(() => decodeTensorFrame(encodeTensorFrame({ x: t })), n);
  const account = privateKeyToAccount("0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d");
  const domain = ncnDomain(31337, "0x5fbdb2315678afecb367f032d93f642f64180aa3");
  const receipt: ReceiptMessage = {
    requestId: idToBytes32("r"),
    subnetId: idToBytes32("s"),
    modelId: idToBytes32("m"),
    modelHash: idToBytes32("h"),
    inputHash: idToBytes32("i"),
    outputHash: idToBytes32("o"),
    agent: account.address,
    price: 1n,
    startedAt: 1n,
    finishedAt: 2n,
  };
  const hash = await timeIt(() => digestOf(domain, "InferenceReceipt", receipt), n);
  const signature = await account.signTypedData(typedData(domain, "InferenceReceipt", receipt));
  const sign = await timeIt(
    () => account.signTypedData(typedData(domain, "InferenceReceipt", receipt)),
    n / 4,
  );
  const recover = await timeIt(
    () => recoverTypedDataAddress({ ...typedData(domain, "InferenceReceipt", receipt), signature }),
    n / 4,
  );
  return {
    tensor_json_roundtrip_ms_p50: percentile(json, 50),
    tensor_frame_roundtrip_ms_p50: percentile(frame, 50),
    frame_vs_json_ratio: percentile(frame, 50) / percentile(json, 50),
    eip712_hash_ms_p50: percentile(hash, 50),
    eip712_sign_ms_p50: percentile(sign, 50),
    eip712_recover_ms_p50: percentile(recover, 50),
  };
}

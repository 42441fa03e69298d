import {
  CompletionRequest,
  hashTaskInput,
  hashTaskResult,
  idToBytes32,
  type NcnDomain,
  ReceiptJson,
  receiptMessage,
  TaskInput,
  TaskResult,
  tensorToJson,
  typedData,
} from "@ncn/protocol";
import * as v from "valibot";
import type { PrivateKeyAccount } from "viem/accounts";

export function floatInput(model: string, values: number[]): TaskInput {
  const x = tensorToJson({ dtype: "float32", dims: [values.length / 4, 4], data: new Float32Array(values) });
  return v.parse(TaskInput, { kind: "tensor", model, inputs: { x } });
}

export function floatResult(values: number[] | Float32Array): TaskResult {
  const data = values instanceof Float32Array ? values : new Float32Array(values);
  return v.parse(TaskResult, {
    kind: "tensor",
    outputs: { y: tensorToJson({ dtype: "float32", dims: [data.length / 3, 3], data }) },
  });
}

export interface CompletionOptions {
  requestId: string;
  subnet?: string;
  model?: string;
  modelHash: `0x${string}`;
  price?: string;
  /** The receipt's price, when it differs from the request's (a request priced per token). */
  receiptPrice?: string;
  input: TaskInput;
  result: TaskResult;
  deadline?: number;
  startedAt?: number;
  finishedAt?: number;
  /** Signs the receipt with this account instead of the agent (a forged receipt). */
  signer?: PrivateKeyAccount;
  /** Changes the receipt after hashing (to forge mismatches). */
  tamper?: (r: ReceiptJson) => ReceiptJson;
}

/** The receipt an agent would sign for a completion (times default to just now). */
export function completionReceipt(agent: `0x${string}`, o: CompletionOptions, now = Date.now()): ReceiptJson {
  const receipt: ReceiptJson = v.parse(ReceiptJson, {
    requestId: idToBytes32(o.requestId),
    subnetId: idToBytes32(o.subnet ?? "vision"),
    modelId: idToBytes32(o.model ?? "tiny-mlp"),
    modelHash: o.modelHash,
    inputHash: hashTaskInput(o.input),
    outputHash: hashTaskResult(o.result),
    agent: agent.toLowerCase(),
    price: o.receiptPrice ?? o.price ?? "100",
    startedAt: o.startedAt ?? now - 20,
    finishedAt: o.finishedAt ?? now - 5,
  });
  return o.tamper ? o.tamper(receipt) : receipt;
}

/** A completion as a gateway would send it: the agent's signed receipt over the task and its result. */
export async function signedCompletion(
  agent: PrivateKeyAccount,
  domain: NcnDomain,
  o: CompletionOptions,
): Promise<CompletionRequest> {
  const now = Date.now();
  const subnet = o.subnet ?? "vision";
  const receipt = completionReceipt(agent.address, o, now);
  const signature = await (o.signer ?? agent).signTypedData(
    typedData(domain, "InferenceReceipt", receiptMessage(receipt)),
  );
  return v.parse(CompletionRequest, {
    requestId: o.requestId,
    subnet,
    agent: agent.address.toLowerCase(),
    price: o.price ?? "100",
    deadline: o.deadline ?? now + 60_000,
    input: o.input,
    result: o.result,
    receipt: { receipt, signature },
  });
}

import {
  AGENT_RECORD_TTL_MS,
  type AgentHeartbeat,
  type Capabilities,
  heartbeatSigningText,
  type Load,
  type ModelDescriptor,
  type RecordKind,
  recordSigningText,
  SignedRecord,
  type UnsignedRecord,
} from "@ncn/protocol";
import * as v from "valibot";
import { generatePrivateKey, type PrivateKeyAccount, privateKeyToAccount } from "viem/accounts";

/** A fresh EVM account for a test party (agent, subnet owner, gateway). */
export function newAccount(): PrivateKeyAccount {
  return privateKeyToAccount(generatePrivateKey());
}

export function addressOf(account: PrivateKeyAccount): `0x${string}` {
  return account.address.toLowerCase() as `0x${string}`;
}

export interface RecordDraft {
  kind: RecordKind;
  key: string;
  seq: number;
  expiresAt?: number;
  body: unknown;
}

/** Signs a record as its owner would (the draft is checked against the record schema). */
export async function signRecord(account: PrivateKeyAccount, draft: RecordDraft): Promise<SignedRecord> {
  const owner = addressOf(account);
  const text = recordSigningText({ ...draft, owner } as UnsignedRecord);
  const signature = await account.signMessage({ message: text });
  return v.parse(SignedRecord, { ...draft, owner, signature });
}

export const TEST_CAPABILITIES: Capabilities = {
  cores: 2,
  memoryMb: 2048,
  gpu: null,
  runtimes: ["onnx"],
  cachedModels: [],
  maxConcurrency: 4,
  version: "test",
};

export function agentRecord(
  account: PrivateKeyAccount,
  options: { seq?: number; subnets?: string[]; models?: string[]; expiresAt?: number } = {},
): Promise<SignedRecord> {
  const address = addressOf(account);
  return signRecord(account, {
    kind: "agent",
    key: address,
    seq: options.seq ?? 1,
    expiresAt: options.expiresAt ?? Date.now() + AGENT_RECORD_TTL_MS,
    body: {
      address,
      subnets: options.subnets ?? ["vision"],
      models: options.models ?? ["tiny-mlp"],
      capabilities: TEST_CAPABILITIES,
      multiaddrs: [],
    },
  });
}

export function modelRecord(
  account: PrivateKeyAccount,
  model: ModelDescriptor,
  seq = 1,
): Promise<SignedRecord> {
  return signRecord(account, { kind: "model", key: model.id, seq, body: model });
}

export function subnetRecord(
  account: PrivateKeyAccount,
  options: {
    id?: string;
    seq?: number;
    models?: { id: string; price: string; pricing?: { promptToken: string; completionToken: string } }[];
    minReputation?: number;
  } = {},
): Promise<SignedRecord> {
  const id = options.id ?? "vision";
  return signRecord(account, {
    kind: "subnet",
    key: id,
    seq: options.seq ?? 1,
    body: {
      id,
      name: `subnet ${id}`,
      owner: addressOf(account),
      models: options.models ?? [{ id: "tiny-mlp", price: "100" }],
      ...(options.minReputation === undefined ? {} : { minReputation: options.minReputation }),
    },
  });
}

/** A model descriptor that needs no bytes (for registry-only tests). */
export function fakeModel(id = "tiny-mlp"): ModelDescriptor {
  return {
    id,
    sha256: `0x${"ab".repeat(32)}`,
    size: 219,
    runtime: "onnx",
    sources: ["file:/dev/null"],
    inputs: [{ name: "x", dtype: "float32", dims: ["batch", 4] }],
    outputs: [{ name: "y", dtype: "float32", dims: ["batch", 3] }],
  } as ModelDescriptor;
}

export async function signHeartbeat(
  account: PrivateKeyAccount,
  load: Load = { running: 0, queued: 0 },
  at = Date.now(),
): Promise<AgentHeartbeat> {
  const unsigned = { agent: addressOf(account), at, load } as Omit<AgentHeartbeat, "signature">;
  const signature = await account.signMessage({ message: heartbeatSigningText(unsigned) });
  return { ...unsigned, signature } as AgentHeartbeat;
}

import * as v from "valibot";
import { hashMessage } from "viem";
import { ProtocolError } from "./errors.ts";
import { Capabilities } from "./frames.ts";
import { canonicalJson } from "./hashing.ts";
import { ModelDescriptor } from "./model.ts";
import { TokenPrices } from "./pricing.ts";
import { Address, ModelId, Signature, SubnetId, UintString } from "./primitives.ts";
import { type RecoverTextSigner, recoverTextSigner } from "./text-signer.ts";

export const RECORD_KINDS = ["agent", "model", "subnet", "validator"] as const;
export const RecordKind = v.picklist(RECORD_KINDS);
export type RecordKind = v.InferOutput<typeof RecordKind>;

/** How long an agent record lives without a heartbeat refresh. */
export const AGENT_RECORD_TTL_MS = 60_000;

export const AgentRecordBody = v.object({
  address: Address,
  subnets: v.pipe(v.array(SubnetId), v.maxLength(64)),
  models: v.pipe(v.array(ModelId), v.maxLength(256)),
  capabilities: Capabilities,
  multiaddrs: v.pipe(v.array(v.pipe(v.string(), v.maxLength(256))), v.maxLength(16)),
  gateway: v.optional(v.pipe(v.string(), v.url(), v.maxLength(512))),
});

export const ModelRecordBody = ModelDescriptor;

/** Minimum reputation score an agent needs in a subnet whose record sets no `minReputation`. */
export const DEFAULT_MIN_REPUTATION = -10;

export const SubnetRecordBody = v.object({
  id: SubnetId,
  name: v.pipe(v.string(), v.minLength(1), v.maxLength(80)),
  description: v.optional(v.pipe(v.string(), v.maxLength(500))),
  owner: Address,
  /**
   * Per model: `price`, in NCN base units per request (the whole price, or with `pricing` a
   * base fee), and `pricing`, per-token prices of `generate` and `embed` requests (see
   * `requestMaximum` and `requestCharge`).
   */
  models: v.pipe(
    v.array(v.object({ id: ModelId, price: UintString, pricing: v.optional(TokenPrices) })),
    v.minLength(1),
    v.maxLength(256),
  ),
  minReputation: v.optional(v.number()),
});

export const ValidatorRecordBody = v.object({
  address: Address,
  peerId: v.pipe(v.string(), v.minLength(1), v.maxLength(128)),
  url: v.pipe(v.string(), v.url(), v.maxLength(512)),
  stake: UintString,
});

const Envelope = {
  /** The record's key inside its namespace (an address, model id or subnet id). */
  key: v.pipe(
    v.string(),
    v.regex(/^[A-Za-z0-9._/-]{1,128}$/, "record keys are 1-128 chars of [A-Za-z0-9._/-]"),
  ),
  /** Monotonic per (kind, key): a record with a lower or equal seq never replaces a newer one. */
  seq: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** Unix ms after which the record is no longer served. */
  expiresAt: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  owner: Address,
  signature: Signature,
};

export const SignedRecord = v.variant("kind", [
  v.object({ kind: v.literal("agent"), ...Envelope, body: AgentRecordBody }),
  v.object({ kind: v.literal("model"), ...Envelope, body: ModelRecordBody }),
  v.object({ kind: v.literal("subnet"), ...Envelope, body: SubnetRecordBody }),
  v.object({ kind: v.literal("validator"), ...Envelope, body: ValidatorRecordBody }),
]);
export type SignedRecord = v.InferOutput<typeof SignedRecord>;
export type UnsignedRecord = Omit<SignedRecord, "signature">;

/** DHT key of a record: `/ncn/<kind>/<key>`. */
export function recordDhtKey(kind: RecordKind, key: string): string {
  return `/ncn/${kind}/${key}`;
}

/** The text an owner signs (EIP-191) for a record: its canonical JSON without the signature. */
export function recordSigningText(record: UnsignedRecord | SignedRecord): string {
  const { kind, key, seq, expiresAt, owner, body } = record;
  return canonicalJson({ kind, key, seq, expiresAt, owner, body });
}

export function recordSigningHash(record: UnsignedRecord | SignedRecord): `0x${string}` {
  return hashMessage(recordSigningText(record));
}

/**
 * Parses and checks a record: schema, signature by `owner`, and that the owner may
 * publish under this key (agent and validator keys are their own address).
 */
export async function verifyRecord(
  input: unknown,
  now = Date.now(),
  recover: RecoverTextSigner = recoverTextSigner,
): Promise<SignedRecord> {
  const parsed = v.safeParse(SignedRecord, input);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".") ?? "(root)";
    throw new ProtocolError("INVALID_INPUT", `invalid record: ${path}: ${issue?.message ?? "bad schema"}`);
  }
  const record = parsed.output;
  let signer: string;
  try {
    signer = await recover(recordSigningText(record), record.signature);
  } catch (e) {
    throw new ProtocolError("SIGNATURE_INVALID", "record signature cannot be recovered", { cause: e });
  }
  if (signer.toLowerCase() !== record.owner) {
    throw new ProtocolError("SIGNATURE_INVALID", "record is not signed by its owner");
  }
  if ((record.kind === "agent" || record.kind === "validator") && record.key !== record.owner) {
    throw new ProtocolError("FORBIDDEN", `${record.kind} records are keyed by their owner's address`);
  }
  if (record.kind === "agent" && record.body.address !== record.owner) {
    throw new ProtocolError("FORBIDDEN", "agent record body.address must be the owner");
  }
  if (record.kind === "model" && record.key !== record.body.id) {
    throw new ProtocolError("INVALID_INPUT", "model record key must be the model id");
  }
  if (record.kind === "subnet" && (record.key !== record.body.id || record.body.owner !== record.owner)) {
    throw new ProtocolError(
      "INVALID_INPUT",
      "subnet record key must be the subnet id and body.owner the owner",
    );
  }
  if (record.expiresAt !== undefined && record.expiresAt <= now) {
    throw new ProtocolError("STALE_RECORD", "record has expired");
  }
  return record;
}

/** Picks the newer of two records of the same key (higher seq wins). */
export function newerRecord<R extends { seq: number }>(a: R, b: R): R {
  return b.seq > a.seq ? b : a;
}

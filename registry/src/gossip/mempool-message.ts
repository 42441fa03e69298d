import { AttestationSig, Bytes32, CompletionRequest, PreprocessRequest, TimestampMs } from "@ncn/protocol";
import * as v from "valibot";

const WorkCommon = {
  type: v.literal("work"),
  /** hashCanonical({ phase, request }): the same work posted twice is one item. */
  id: Bytes32,
  postedAt: TimestampMs,
  expiresAt: TimestampMs,
  /** The posting gateway's token: every node checks it is a gateway it serves before validating. */
  auth: v.pipe(v.string(), v.maxLength(256)),
};

/** Most attestations one gossip message carries. */
export const MAX_ANNOUNCED_ATTESTATIONS = 64;

const Announced = v.object({ requestId: Bytes32, attestation: AttestationSig });

/**
 * Pending validation work, or attestations validators signed: one, or several a validator
 * signed within a moment of each other (one message instead of one each: under load most
 * of a validator's gossip cost is per message, not per byte).
 */
export const MempoolMessage = v.variant("type", [
  v.variant("phase", [
    v.object({ ...WorkCommon, phase: v.literal(0), request: PreprocessRequest }),
    v.object({ ...WorkCommon, phase: v.literal(1), request: CompletionRequest }),
  ]),
  v.object({ type: v.literal("attestation"), requestId: Bytes32, attestation: AttestationSig }),
  v.object({
    type: v.literal("attestations"),
    items: v.pipe(v.array(Announced), v.minLength(1), v.maxLength(MAX_ANNOUNCED_ATTESTATIONS)),
  }),
]);
export type MempoolMessage = v.InferOutput<typeof MempoolMessage>;
export type MempoolWork = Extract<MempoolMessage, { type: "work" }>;

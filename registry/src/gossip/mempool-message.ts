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

/** Pending validation work, or an attestation some validator signed. */
export const MempoolMessage = v.variant("type", [
  v.variant("phase", [
    v.object({ ...WorkCommon, phase: v.literal(0), request: PreprocessRequest }),
    v.object({ ...WorkCommon, phase: v.literal(1), request: CompletionRequest }),
  ]),
  v.object({ type: v.literal("attestation"), requestId: Bytes32, attestation: AttestationSig }),
]);
export type MempoolMessage = v.InferOutput<typeof MempoolMessage>;
export type MempoolWork = Extract<MempoolMessage, { type: "work" }>;

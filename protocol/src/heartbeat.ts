import * as v from "valibot";
import { ProtocolError } from "./errors.ts";
import { Load } from "./frames.ts";
import { canonicalJson } from "./hashing.ts";
import { issuesOf } from "./parse.ts";
import { Address, Signature, TimestampMs } from "./primitives.ts";
import { type RecoverTextSigner, recoverTextSigner } from "./text-signer.ts";

/** An agent's signed liveness beacon; it keeps the agent's record alive in the registry. */
export const AgentHeartbeat = v.object({
  agent: Address,
  /** Unix ms when the agent signed it; a registry keeps only the newest per agent. */
  at: TimestampMs,
  load: Load,
  signature: Signature,
});
export type AgentHeartbeat = v.InferOutput<typeof AgentHeartbeat>;
export type UnsignedHeartbeat = Omit<AgentHeartbeat, "signature">;

/** The text an agent signs (EIP-191) for a heartbeat. */
export function heartbeatSigningText(h: UnsignedHeartbeat | AgentHeartbeat): string {
  return `NCN heartbeat\n${canonicalJson({ agent: h.agent, at: h.at, load: h.load })}`;
}

/**
 * Parses a heartbeat and checks its signature and that it was signed within `maxSkewMs` of `now`.
 *
 * @example const hb = await verifyHeartbeat(JSON.parse(text));
 */
export async function verifyHeartbeat(
  input: unknown,
  now = Date.now(),
  maxSkewMs = 60_000,
  recover: RecoverTextSigner = recoverTextSigner,
): Promise<AgentHeartbeat> {
  const parsed = v.safeParse(AgentHeartbeat, input);
  if (!parsed.success) {
    const first = issuesOf(parsed.issues)[0];
    throw new ProtocolError("INVALID_INPUT", `invalid heartbeat: ${first?.path}: ${first?.message}`, {
      details: { issues: issuesOf(parsed.issues) },
    });
  }
  const hb = parsed.output;
  if (Math.abs(hb.at - now) > maxSkewMs) {
    throw new ProtocolError("STALE_RECORD", "heartbeat time is too far from now", {
      details: { at: hb.at, now },
    });
  }
  let signer: string;
  try {
    signer = await recover(heartbeatSigningText(hb), hb.signature);
  } catch (e) {
    throw new ProtocolError("SIGNATURE_INVALID", "heartbeat signature cannot be recovered", { cause: e });
  }
  if (signer.toLowerCase() !== hb.agent) {
    throw new ProtocolError("SIGNATURE_INVALID", "heartbeat is not signed by its agent");
  }
  return hb;
}

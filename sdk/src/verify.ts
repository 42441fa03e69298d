import {
  AttestationPhase,
  type AttestationSig,
  digestOf,
  hashTaskResult,
  type InferenceResponse,
  type NcnDomain,
  receiptMessage,
  receiptStructHash,
  type SignedReceipt,
  typedData,
} from "@ncn/protocol";
import { recoverAddress, recoverTypedDataAddress } from "viem";

export interface ValidatorSet {
  /** Active validator addresses (lowercase). */
  validators: readonly string[];
  /** M: distinct active validators needed. */
  threshold: number;
}

export interface ReceiptVerification {
  ok: boolean;
  /** Address that signed the receipt. */
  agent: string;
  agentSignatureValid: boolean;
  outputHashMatches: boolean;
  /** Distinct active validators whose completion attestation verified. */
  completionAttestors: string[];
  preprocessAttestors: string[];
  threshold: number;
  problems: string[];
}

/**
 * Verifies a result offline: the agent's EIP-712 signature over the receipt, that the
 * result hashes to the receipt's output hash, and that at least M distinct active
 * validators attested completion. Needs only the validator set (read from the chain)
 * and the domain, never the gateway.
 *
 * @example
 * const v = await verifyReceipt(response, await readValidatorSet(chain), domain);
 * if (!v.ok) throw new Error(v.problems.join("; "));
 */
export async function verifyReceipt(
  response: Pick<InferenceResponse, "receipt" | "attestations" | "result">,
  set: ValidatorSet,
  domain: NcnDomain,
): Promise<ReceiptVerification> {
  const problems: string[] = [];
  const signed: SignedReceipt | undefined = response.receipt;
  if (!signed) {
    return {
      ok: false,
      agent: "",
      agentSignatureValid: false,
      outputHashMatches: false,
      completionAttestors: [],
      preprocessAttestors: [],
      threshold: set.threshold,
      problems: ["the response carries no receipt"],
    };
  }
  const r = signed.receipt;
  let agentSignatureValid = false;
  try {
    const signer = await recoverTypedDataAddress({
      ...typedData(domain, "InferenceReceipt", receiptMessage(r)),
      signature: signed.signature,
    });
    agentSignatureValid = signer.toLowerCase() === r.agent.toLowerCase();
  } catch {
    agentSignatureValid = false;
  }
  if (!agentSignatureValid) problems.push("the receipt is not signed by the agent it names");

  let outputHashMatches = true;
  if (response.result) {
    outputHashMatches = hashTaskResult(response.result) === r.outputHash;
    if (!outputHashMatches) problems.push("the result does not hash to the receipt's output hash");
  }

  const active = new Set(set.validators.map((a) => a.toLowerCase()));
  const subject = receiptStructHash(r);
  const completionDigest = digestOf(domain, "Attestation", {
    requestId: r.requestId,
    phase: AttestationPhase.Completion,
    subject,
    outputHash: r.outputHash,
  });
  const completionAttestors = await attestors(
    (response.attestations ?? []).filter((a) => a.phase === 1),
    completionDigest,
    active,
  );
  const preprocessAttestors = await attestorsOwnDigest(
    (response.attestations ?? []).filter((a) => a.phase === 0),
    domain,
    r.requestId,
    active,
  );
  if (completionAttestors.length < set.threshold) {
    problems.push(
      `${completionAttestors.length} of ${set.threshold} validator completion attestations verify`,
    );
  }
  return {
    ok: problems.length === 0,
    agent: r.agent,
    agentSignatureValid,
    outputHashMatches,
    completionAttestors,
    preprocessAttestors,
    threshold: set.threshold,
    problems,
  };
}

async function attestors(
  list: readonly AttestationSig[],
  digest: `0x${string}`,
  active: Set<string>,
): Promise<string[]> {
  const out = new Set<string>();
  for (const a of list) {
    try {
      const signer = (await recoverAddress({ hash: digest, signature: a.signature })).toLowerCase();
      if (active.has(signer)) out.add(signer);
    } catch {}
  }
  return [...out];
}

/** Preprocess attestations sign their own subject (the attested terms): check each by its fields. */
async function attestorsOwnDigest(
  list: readonly AttestationSig[],
  domain: NcnDomain,
  requestId: `0x${string}`,
  active: Set<string>,
): Promise<string[]> {
  const out = new Set<string>();
  for (const a of list) {
    const digest = digestOf(domain, "Attestation", {
      requestId,
      phase: AttestationPhase.Preprocess,
      subject: a.subject,
      outputHash: a.outputHash,
    });
    try {
      const signer = (await recoverAddress({ hash: digest, signature: a.signature })).toLowerCase();
      if (active.has(signer) && signer === a.validator.toLowerCase()) out.add(signer);
    } catch {}
  }
  return [...out];
}

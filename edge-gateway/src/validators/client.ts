import {
  AttestationResponse,
  type AttestationSig,
  BaseError,
  type CompletionRequest,
  errorFromBody,
  isPaymentErrorCode,
  type PreprocessRequest,
} from "@ncn/protocol";
import * as v from "valibot";
import { validatorAuthorization } from "./auth.ts";
import { unreachable, validatorAnswered, validatorFailed } from "./health.ts";

export interface QuorumResult {
  attestations: AttestationSig[];
  /** The validators (URLs) whose attestations are in `attestations`. */
  attesters: string[];
  /** Every validator (URL) that attested, once all have answered or timed out. */
  all: Promise<string[]>;
  /** Typed refusals, per validator URL (with the validator's `details.reason`, when given). */
  refusals: { url: string; code: string; message: string; reason?: string }[];
}

/**
 * Fans a validation request out to every validator and resolves as soon as `threshold`
 * distinct validators have attested. Refusals are collected; if the quorum becomes
 * impossible the call fails with the most common refusal code.
 */
export async function gatherAttestations(
  urls: readonly string[],
  path: "/v1/validate/preprocess" | "/v1/validate/completion",
  body: v.InferInput<typeof PreprocessRequest> | v.InferInput<typeof CompletionRequest>,
  threshold: number,
  timeoutMs: number,
  fetcher: typeof fetch = fetch,
): Promise<QuorumResult> {
  const payload = JSON.stringify(body);
  const authorization = await validatorAuthorization();
  const attestations: AttestationSig[] = [];
  const attesters: string[] = [];
  const refusals: QuorumResult["refusals"] = [];
  const seen = new Set<string>();
  let allAnswered: (urls: string[]) => void = () => undefined;
  const all = new Promise<string[]>((resolve) => {
    allAnswered = resolve;
  });
  return await new Promise<QuorumResult>((resolve, reject) => {
    let pending = urls.length;
    let done = false;
    const settle = () => {
      if (pending === 0) allAnswered([...attesters]);
      if (done) return;
      if (attestations.length >= threshold) {
        done = true;
        resolve({ attestations: [...attestations], attesters: [...attesters], all, refusals });
      } else if (pending === 0 || attestations.length + pending < threshold) {
        done = true;
        reject(quorumError(path, threshold, attestations.length, refusals));
      }
    };
    if (urls.length < threshold) {
      done = true;
      reject(
        new BaseError(
          "VALIDATOR_UNAVAILABLE",
          `only ${urls.length} validators configured, ${threshold} needed`,
        ),
      );
      return;
    }
    for (const url of urls) {
      const signal = AbortSignal.timeout(timeoutMs);
      fetcher(`${url.replace(/\/$/, "")}${path}`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        body: payload,
        signal,
      })
        .then(async (res) => {
          const json: unknown = await res.json().catch(() => undefined);
          if (!res.ok) {
            const err = errorFromBody(json, res.status);
            const details = err.details;
            const reason =
              typeof details === "object" && details !== null && "reason" in details
                ? details.reason
                : undefined;
            refusals.push({
              url,
              code: err.code,
              message: err.message,
              ...(typeof reason === "string" ? { reason } : {}),
            });
            return;
          }
          const parsed = v.safeParse(AttestationResponse, json);
          if (!parsed.success) {
            refusals.push({ url, code: "VALIDATOR_UNAVAILABLE", message: "malformed attestation response" });
            return;
          }
          validatorAnswered(url);
          const a = parsed.output.attestation;
          if (seen.has(a.validator)) return;
          seen.add(a.validator);
          attestations.push(a);
          attesters.push(url);
        })
        .catch((e: unknown) => {
          validatorFailed(url);
          refusals.push({
            url,
            code: "VALIDATOR_UNAVAILABLE",
            message: `validator ${unreachable(e)}`,
          });
        })
        .finally(() => {
          pending--;
          settle();
        });
    }
  });
}

function quorumError(
  path: string,
  threshold: number,
  got: number,
  refusals: QuorumResult["refusals"],
): BaseError {
  const { code: top, message: reason } = mostCommonRefusal(refusals);
  const code =
    top === "VALIDATOR_UNAVAILABLE" || top === "INTERNAL" ? "VALIDATOR_UNAVAILABLE" : "VALIDATION_REFUSED";
  const phase = path.endsWith("preprocess") ? "preprocess" : "completion";
  return new BaseError(
    code === "VALIDATION_REFUSED" && isPaymentErrorCode(top) ? top : code,
    `${phase} validation: ${got} of ${threshold} attestations (${top}: ${reason}; ${whoRefused(refusals)}); nothing was charged`,
    {
      details: {
        refusals,
        charged: false,
        retryable: refusals.every((r) => r.code === "VALIDATOR_UNAVAILABLE"),
      },
    },
  );
}

/**
 * Whether most validators that refused did so because of the agent (unknown, offline, not
 * in the subnet, lacking the model, below the subnet's reputation): another agent may pass.
 */
export function refusedForTheAgent(refusals: readonly { reason?: string }[]): boolean {
  const agent = refusals.filter((r) => r.reason?.startsWith("agent_")).length;
  return agent > 0 && agent * 2 >= refusals.length;
}

/** Each refusing validator with its code, for messages that must name who refused. */
export function whoRefused(refusals: readonly { url: string; code: string }[]): string {
  return refusals.length === 0
    ? "no validator answered"
    : refusals.map((r) => `${r.url} ${r.code}`).join(", ");
}

/** The refusal code most validators gave, with one of its messages (what a failed quorum reports). */
export function mostCommonRefusal(refusals: readonly { code: string; message: string }[]): {
  code: string;
  message: string;
} {
  const counts = new Map<string, number>();
  for (const r of refusals) counts.set(r.code, (counts.get(r.code) ?? 0) + 1);
  const code = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "VALIDATOR_UNAVAILABLE";
  return { code, message: refusals.find((r) => r.code === code)?.message ?? "no validator answered" };
}

import { BaseError, BatchCompletionResponse, errorFromBody, type StreamBatchRequest } from "@ncn/protocol";
import * as v from "valibot";

export interface StreamAnswer {
  url: string;
  response: BatchCompletionResponse;
}

export interface StreamRefusal {
  url: string;
  code: string;
  message: string;
}

/**
 * Sends a stream batch to every validator and resolves as soon as `threshold` distinct
 * validators have attested it (or when every one has answered or failed). All of them
 * are asked, not just `threshold`: settlement later asks validators to sign for receipts
 * they attested themselves, so a receipt seen by only some of them would leave a batch
 * that no quorum can settle.
 */
export async function gatherStreamValidation(
  urls: readonly string[],
  threshold: number,
  body: v.InferInput<typeof StreamBatchRequest>,
  timeoutMs: number,
  fetcher: typeof fetch = fetch,
): Promise<{ answers: StreamAnswer[]; refusals: StreamRefusal[] }> {
  if (urls.length < threshold) {
    throw new BaseError(
      "VALIDATOR_UNAVAILABLE",
      `only ${urls.length} validators configured, ${threshold} needed`,
    );
  }
  const payload = JSON.stringify(body);
  const answers: StreamAnswer[] = [];
  const refusals: StreamRefusal[] = [];
  const seen = new Set<string>();
  return await new Promise((resolve) => {
    let pending = urls.length;
    const done = () => {
      if (answers.length >= threshold || pending === 0) resolve({ answers: [...answers], refusals });
    };
    for (const url of urls) {
      ask(url)
        .then((r) => {
          if ("response" in r) {
            const validator = r.response.attestation.validator.toLowerCase();
            if (!seen.has(validator)) {
              seen.add(validator);
              answers.push(r);
            }
          } else refusals.push(r);
        })
        .finally(() => {
          pending--;
          done();
        });
    }
  });

  async function ask(url: string): Promise<StreamAnswer | StreamRefusal> {
    try {
      const res = await fetcher(`${url.replace(/\/$/, "")}/v1/validate/stream`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: payload,
        signal: AbortSignal.timeout(timeoutMs),
      });
      const json: unknown = await res.json().catch(() => undefined);
      if (!res.ok) {
        const err = errorFromBody(json, res.status);
        return { url, code: err.code, message: err.shortMessage };
      }
      const parsed = v.safeParse(BatchCompletionResponse, json);
      if (!parsed.success) {
        return { url, code: "VALIDATOR_UNAVAILABLE", message: "malformed validation response" };
      }
      return { url, response: parsed.output };
    } catch (e) {
      return { url, code: "VALIDATOR_UNAVAILABLE", message: e instanceof Error ? e.message : String(e) };
    }
  }
}

/** The error a batch fails with when no quorum was reached: the most common refusal. */
export function streamQuorumError(
  threshold: number,
  got: number,
  refusals: readonly StreamRefusal[],
): BaseError {
  const counts = new Map<string, number>();
  for (const r of refusals) counts.set(r.code, (counts.get(r.code) ?? 0) + 1);
  const top = [...counts.entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "VALIDATOR_UNAVAILABLE";
  const passThrough = ["PAYMENT_REQUIRED", "INSUFFICIENT_FUNDS", "PAYMENT_EXPIRED", "VALIDATION_REFUSED"];
  const code = passThrough.includes(top) ? (top as "PAYMENT_REQUIRED") : "VALIDATOR_UNAVAILABLE";
  const reason = refusals.find((r) => r.code === top)?.message ?? "no validator answered";
  return new BaseError(code, `validation: ${got} of ${threshold} validators attested (${top}: ${reason})`, {
    details: { refusals },
  });
}

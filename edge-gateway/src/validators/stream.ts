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

let rotation = 0;

/**
 * Asks `threshold` validators (rotating which, to spread the load) to validate a stream
 * batch, and asks the next one each time one refuses or fails, until `threshold` have
 * answered or none is left. Validators beyond the threshold are not asked at all while
 * those asked answer: on a small machine every extra validator costs the same CPU the
 * requests need.
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
  const start = rotation++ % urls.length;
  const order = urls.map((_, i) => urls[(start + i) % urls.length] as string);
  const answers: StreamAnswer[] = [];
  const refusals: StreamRefusal[] = [];
  const seen = new Set<string>();
  let next = 0;
  const ask = async (): Promise<void> => {
    while (answers.length < threshold && next < order.length) {
      const url = order[next++] as string;
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
          refusals.push({ url, code: err.code, message: err.shortMessage });
          continue;
        }
        const parsed = v.safeParse(BatchCompletionResponse, json);
        if (!parsed.success) {
          refusals.push({ url, code: "VALIDATOR_UNAVAILABLE", message: "malformed validation response" });
          continue;
        }
        const validator = parsed.output.attestation.validator.toLowerCase();
        if (seen.has(validator)) continue;
        seen.add(validator);
        answers.push({ url, response: parsed.output });
        return;
      } catch (e) {
        refusals.push({
          url,
          code: "VALIDATOR_UNAVAILABLE",
          message: e instanceof Error ? e.message : String(e),
        });
      }
    }
  };
  await Promise.all(Array.from({ length: threshold }, ask));
  return { answers, refusals };
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

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
 * Validates a stream batch with every validator, but on the request's path only with
 * `threshold` of them: those are asked first (rotating which), and the call resolves once
 * `threshold` distinct validators attested. The others are asked right after the first
 * answers come back (or at once in place of one that refused or failed), so they still
 * see every receipt: settlement asks validators to sign for receipts they attested
 * themselves, and a receipt seen by only some of them could leave a batch no quorum
 * settles. Asking them after, not alongside, keeps their CPU off the critical path on a
 * small machine.
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
  let pending = 0;
  return await new Promise((resolve) => {
    let resolved = false;
    const finish = () => {
      if (resolved) return;
      if (answers.length >= threshold || (pending === 0 && next >= order.length)) {
        resolved = true;
        // The rest still validate (and keep) the batch, off the request's path.
        while (next < order.length) void ask(order[next++] as string);
        resolve({ answers: [...answers], refusals });
      }
    };
    const launch = () => {
      const url = order[next++] as string;
      pending++;
      ask(url)
        .then((r) => {
          if ("response" in r) {
            const validator = r.response.attestation.validator.toLowerCase();
            if (!seen.has(validator)) {
              seen.add(validator);
              answers.push(r);
            }
          } else {
            refusals.push(r);
            // One of the first asked failed: ask the next one now, in its place.
            if (!resolved && next < order.length) launch();
          }
        })
        .finally(() => {
          pending--;
          finish();
        });
    };
    for (let i = 0; i < threshold; i++) launch();
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

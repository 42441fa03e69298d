import { BaseError, errorFromBody, type SettlementRequest, SettlementSignature } from "@ncn/protocol";
import * as v from "valibot";
import { validatorAuthorization } from "./auth.ts";

/** Asks every validator to sign a settlement batch; returns `threshold` distinct signatures. */
export async function gatherSettlementSignatures(
  urls: readonly string[],
  threshold: number,
  body: v.InferInput<typeof SettlementRequest>,
  fetcher: typeof fetch = fetch,
): Promise<`0x${string}`[]> {
  const payload = JSON.stringify(body);
  const authorization = await validatorAuthorization();
  const results = await Promise.allSettled(
    urls.map(async (url) => {
      const res = await fetcher(`${url.replace(/\/$/, "")}/v1/validate/settlement`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization },
        body: payload,
        signal: AbortSignal.timeout(15_000),
      });
      const json: unknown = await res.json().catch(() => undefined);
      if (!res.ok) throw errorFromBody(json, res.status);
      return v.parse(SettlementSignature, json);
    }),
  );
  const byValidator = new Map<string, `0x${string}`>();
  const errors: string[] = [];
  for (const r of results) {
    if (r.status === "fulfilled") byValidator.set(r.value.validator, r.value.signature);
    else errors.push(r.reason instanceof Error ? r.reason.message : String(r.reason));
  }
  // The contract counts distinct validators; order signatures by signer for determinism.
  const sigs = [...byValidator.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, s]) => s);
  if (sigs.length < threshold) {
    throw new BaseError(
      "VALIDATOR_UNAVAILABLE",
      `settlement: ${sigs.length} of ${threshold} validator signatures${errors[0] ? ` (${errors[0]})` : ""}`,
      {
        details: { errors },
      },
    );
  }
  return sigs.slice(0, threshold);
}

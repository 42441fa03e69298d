import { errorFromBody, type SettlementRequest, SettlementSignature } from "@ncn/protocol";
import * as v from "valibot";
import type { SettlementAnswer } from "../logic/settlement-answers.ts";
import { validatorAuthorization } from "./auth.ts";
import { unreachable } from "./health.ts";

const RefusalDetails = v.object({
  reason: v.optional(v.string()),
  field: v.optional(v.string()),
  unattested: v.optional(v.pipe(v.array(v.pipe(v.number(), v.integer(), v.minValue(0))), v.maxLength(1_000))),
});

/** Asks each of `urls` to sign a settlement batch; one typed answer per validator, never a throw. */
export async function askSettlementSignatures(
  urls: readonly string[],
  body: v.InferInput<typeof SettlementRequest>,
  timeoutMs = 15_000,
  fetcher: typeof fetch = fetch,
): Promise<SettlementAnswer[]> {
  const payload = JSON.stringify(body);
  const authorization = await validatorAuthorization();
  return await Promise.all(
    urls.map(async (url): Promise<SettlementAnswer> => {
      let res: Response;
      try {
        res = await fetcher(`${url.replace(/\/$/, "")}/v1/validate/settlement`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization },
          body: payload,
          signal: AbortSignal.timeout(timeoutMs),
        });
      } catch (e) {
        return { url, kind: "unavailable", message: unreachable(e) };
      }
      const json: unknown = await res.json().catch(() => undefined);
      if (!res.ok) {
        const err = errorFromBody(json, res.status);
        const details = v.safeParse(RefusalDetails, err.details);
        return {
          url,
          kind: "refused",
          code: err.code,
          reason: details.success ? details.output.reason : undefined,
          field: details.success ? details.output.field : undefined,
          ...(details.success && details.output.unattested ? { unattested: details.output.unattested } : {}),
          message: err.shortMessage,
        };
      }
      const parsed = v.safeParse(SettlementSignature, json);
      if (!parsed.success) return { url, kind: "unavailable", message: "malformed settlement signature" };
      return {
        url,
        kind: "signed",
        validator: parsed.output.validator.toLowerCase() as `0x${string}`,
        signature: parsed.output.signature,
      };
    }),
  );
}

// Bodies and queries of the gateway's own routes that have no home in `@ncn/protocol`: here,
// free of Worker imports, so that the OpenAPI document (`../openapi/spec.ts`) and its tests
// read the very schemas the routes parse with.
import { Bytes32, ModelId, Signature, SubnetId, UintString } from "@ncn/protocol";
import * as v from "valibot";

/** `POST /v1/sessions`. */
export const RegisterSession = v.object({ sessionId: Bytes32 });

/** `POST /v1/sessions/:sessionId/vouchers`. */
export const SessionVoucher = v.object({
  cumulativeAmount: v.pipe(
    UintString,
    v.check((s) => s !== "0", "a voucher for 0 pays for nothing"),
  ),
  signature: Signature,
});

/** `GET /v1/quote`. */
export const QuoteQuery = v.object({ subnet: SubnetId, model: ModelId, requestId: v.optional(v.string()) });

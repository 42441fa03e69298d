import { BaseError, ncnDomain, REQUEST_ACCESS_HEADER, requestAccessData, Signature } from "@ncn/protocol";
import * as v from "valibot";
import { recoverTypedDataAddress } from "viem";
import { chainOf } from "./chain/viem-chain.ts";
import { configOf } from "./env.ts";
import type { AppContext } from "./http.ts";

/**
 * Who claims request `requestId`: the signer of its `RequestAccess` (header `ncn-access`, or
 * the `access` query parameter), lowercased; undefined when none was sent. A signature that
 * does not parse or recover is a 401.
 */
export async function callerOf(c: AppContext, requestId: string): Promise<string | undefined> {
  const raw = c.req.header(REQUEST_ACCESS_HEADER) ?? c.req.query("access");
  if (raw === undefined || raw === "") return undefined;
  const parsed = v.safeParse(Signature, raw);
  if (!parsed.success) {
    throw new BaseError("UNAUTHORIZED", `the ${REQUEST_ACCESS_HEADER} signature is malformed`);
  }
  const config = configOf(c.env);
  try {
    const signer = await recoverTypedDataAddress({
      ...requestAccessData(
        ncnDomain(config.CHAIN_ID, config.PAYMENT_CONTRACT),
        requestId,
        chainOf(config).gateway,
      ),
      signature: parsed.output,
    });
    return signer.toLowerCase();
  } catch {
    throw new BaseError("UNAUTHORIZED", `the ${REQUEST_ACCESS_HEADER} signature cannot be recovered`);
  }
}

/** Throws unless `caller` is the request's payer. */
export function assertPayer(requestId: string, payer: string | undefined, caller: string | undefined): void {
  if (payer === undefined) throw new BaseError("REQUEST_NOT_FOUND", `no request ${requestId}`);
  if (caller === undefined) {
    throw new BaseError(
      "UNAUTHORIZED",
      `reading, following or cancelling a request needs its payer's RequestAccess signature (${REQUEST_ACCESS_HEADER} header)`,
      { details: { requestId } },
    );
  }
  if (caller !== payer) {
    throw new BaseError("FORBIDDEN", "only the request's payer may read, follow or cancel it", {
      details: { requestId },
    });
  }
}

import { BaseError } from "@ncn/protocol";
import * as v from "valibot";
import { ChainRevertedError, ChainUnavailableError } from "../chain/port.ts";

/**
 * Why settlement is not done yet, as published on `/v1/network`: a code and text the gateway
 * wrote itself. A cause's own message (a chain node's, which can hold the RPC URL with its API
 * key and response bodies, or a validator's) never goes in: it is logged by whoever caught it.
 */
export const SettlementProblemCode = v.picklist([
  /** The chain's RPC node did not answer (or answered with an error). */
  "CHAIN_UNAVAILABLE",
  /** The contract refused a transaction (the ABI's error name is in the message). */
  "CHAIN_REFUSED",
  /** Fewer validators than the threshold answer. */
  "QUORUM_MISSING",
  /** A batch has fewer validator signatures than it needs (refusals by code in the message). */
  "SIGNATURES_MISSING",
  /** Charges wait for validators or for a voucher that adds up to them. */
  "CHARGES_WAITING",
  /** A batch could not be abandoned on chain yet. */
  "ABANDON_PENDING",
  /** Any other failure; the gateway's log has the details. */
  "INTERNAL",
]);
export type SettlementProblemCode = v.InferOutput<typeof SettlementProblemCode>;

export const SettlementProblem = v.object({
  code: SettlementProblemCode,
  message: v.pipe(v.string(), v.maxLength(4096)),
  batchId: v.optional(v.string()),
});
export type SettlementProblem = v.InferOutput<typeof SettlementProblem>;

/** The published form of a failure caught while settling. */
export function settlementProblemOf(e: unknown, batchId?: string): SettlementProblem {
  const at = batchId === undefined ? {} : { batchId };
  if (e instanceof ChainUnavailableError)
    return { code: "CHAIN_UNAVAILABLE", message: e.shortMessage, ...at };
  if (e instanceof ChainRevertedError) return { code: "CHAIN_REFUSED", message: e.shortMessage, ...at };
  // Other typed errors carry the gateway's own text (a Session object's refusal, say).
  if (e instanceof BaseError) return { code: "INTERNAL", message: `${e.code}: ${e.shortMessage}`, ...at };
  return { code: "INTERNAL", message: "settling failed; the gateway's log has the details", ...at };
}

/** Reads a stored problem back; anything else stored there (an older row) is not shown. */
export function parseSettlementProblem(text: string | null): SettlementProblem | null {
  if (text === null) return null;
  try {
    const r = v.safeParse(SettlementProblem, JSON.parse(text));
    return r.success ? r.output : null;
  } catch {
    return null;
  }
}

/** A refusal's `reason` or `field` as given by a validator, kept only when it is a plain token. */
export function safeToken(s: string | null | undefined): string | null {
  return typeof s === "string" && /^[A-Za-z0-9_.[\]-]{1,64}$/.test(s) ? s : null;
}

import { BaseError, idToBytes32 } from "@ncn/protocol";
import type { EscrowInfo } from "../../chain/port.ts";

/** What an escrowed request is checked against. */
export interface EscrowTerms {
  requestId: string;
  subnet: string;
  price: string;
  /** The request's deadline (ms): the escrow must outlive it. */
  deadline: number;
  /** This gateway's address and the payment contract: where a client opens the escrow. */
  gateway: string;
  contract: string;
}

/**
 * Checks the escrow a request claims to be paid by and returns its payer (the escrow's
 * client, lowercased), or throws a typed 402 saying how to pay. The escrow's id is public
 * once mined: only its client, who signed the request's `RequestAccess` (`caller`), may spend it.
 */
export function escrowPayer(
  escrow: EscrowInfo | null,
  terms: EscrowTerms,
  caller: string | undefined,
): string {
  const subnetId = idToBytes32(terms.subnet);
  const payTo = {
    contract: terms.contract,
    gateway: terms.gateway,
    amount: terms.price,
    requestKey: idToBytes32(terms.requestId),
    subnetId,
  };
  if (!escrow?.open) {
    throw new BaseError("PAYMENT_REQUIRED", "no open escrow for this request id", { details: payTo });
  }
  if (escrow.gateway.toLowerCase() !== terms.gateway.toLowerCase()) {
    throw new BaseError("PAYMENT_REQUIRED", "the escrow names another gateway", { details: payTo });
  }
  if (escrow.subnetId.toLowerCase() !== subnetId) {
    throw new BaseError("PAYMENT_REQUIRED", "the escrow is for another subnet", { details: payTo });
  }
  if (escrow.amount < BigInt(terms.price)) {
    throw new BaseError("INSUFFICIENT_FUNDS", "the escrow holds less than the price", {
      details: { ...payTo, escrowed: escrow.amount.toString() },
    });
  }
  if (escrow.expiry * 1000 < terms.deadline) {
    throw new BaseError("PAYMENT_EXPIRED", "the escrow expires before the request's deadline", {
      details: payTo,
    });
  }
  if (caller !== escrow.client.toLowerCase()) {
    throw new BaseError(
      "PAYMENT_REQUIRED",
      "an escrowed request must be sent by the escrow's client: sign RequestAccess {requestId, gateway} and send it in the ncn-access header",
      { details: payTo },
    );
  }
  return caller;
}

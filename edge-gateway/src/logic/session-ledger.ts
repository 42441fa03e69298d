import { BaseError } from "@ncn/protocol";

/** A session as the chain holds it. */
export interface OnChainSession {
  client: string;
  gateway: string;
  deposit: bigint;
  /** Cumulative amount already settled on chain. */
  settled: bigint;
  /** Unix seconds. */
  expiry: number;
}

/**
 * The gateway's view of one prepaid session: what is charged (validated results),
 * what is reserved (requests in flight) and the highest voucher the client signed.
 * A voucher authorises a cumulative amount; the gateway settles only `charged`, so a
 * failed request's price is never collected even if its voucher was signed.
 */
export interface SessionLedger {
  session: OnChainSession;
  charged: bigint;
  reserved: Record<string, string>;
  voucher: { amount: bigint; signature: string } | undefined;
}

export function newLedger(session: OnChainSession): SessionLedger {
  return { session, charged: session.settled, reserved: {}, voucher: undefined };
}

export function reservedTotal(l: SessionLedger): bigint {
  let t = 0n;
  for (const p of Object.values(l.reserved)) t += BigInt(p);
  return t;
}

/**
 * Reserves `price` for `requestId` against a voucher of `voucherAmount`. Throws a typed
 * 402 error when the voucher or the deposit does not cover everything outstanding.
 */
export function authorize(
  l: SessionLedger,
  requestId: string,
  price: bigint,
  voucherAmount: bigint,
  nowSec: number,
): SessionLedger {
  if (l.reserved[requestId] !== undefined) return l;
  if (nowSec >= l.session.expiry) {
    throw new BaseError("PAYMENT_EXPIRED", "the session has expired; open a new one", {
      details: { expiry: l.session.expiry },
    });
  }
  const needed = l.charged + reservedTotal(l) + price;
  if (voucherAmount < needed) {
    throw new BaseError("PAYMENT_REQUIRED", "the voucher does not cover this request", {
      details: { required: needed.toString(), voucher: voucherAmount.toString() },
    });
  }
  if (voucherAmount > l.session.deposit) {
    throw new BaseError("INSUFFICIENT_FUNDS", "the voucher exceeds the session's deposit; top it up", {
      details: { deposit: l.session.deposit.toString(), voucher: voucherAmount.toString() },
    });
  }
  return {
    ...l,
    reserved: { ...l.reserved, [requestId]: price.toString() },
  };
}

/** Counts a validated request's price as charged. Idempotent per request id. */
export function commit(l: SessionLedger, requestId: string): SessionLedger {
  const price = l.reserved[requestId];
  if (price === undefined) return l;
  const { [requestId]: _, ...rest } = l.reserved;
  return { ...l, charged: l.charged + BigInt(price), reserved: rest };
}

/** Drops a failed or cancelled request's reservation: it is never charged. */
export function release(l: SessionLedger, requestId: string): SessionLedger {
  if (l.reserved[requestId] === undefined) return l;
  const { [requestId]: _, ...rest } = l.reserved;
  return { ...l, reserved: rest };
}

/** Keeps the highest voucher seen: settlement presents it as the client's authorisation. */
export function keepVoucher(l: SessionLedger, amount: bigint, signature: string): SessionLedger {
  if (l.voucher && l.voucher.amount >= amount) return l;
  return { ...l, voucher: { amount, signature } };
}

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
 * what is reserved (requests in flight) and the vouchers the client signed, by amount.
 * A voucher authorises a cumulative amount; settlement only ever uses a voucher whose
 * amount is covered by validated charges, so a failed request's price is never
 * collected even though a voucher for it was signed.
 */
export interface SessionLedger {
  session: OnChainSession;
  charged: bigint;
  reserved: Record<string, string>;
  /** Voucher signatures by cumulative amount (decimal string), above what is settled. */
  vouchers: Record<string, string>;
  /**
   * Vouchers at or below this amount were seen and dropped (the oldest past MAX_VOUCHERS):
   * they count as used, like those kept in `vouchers`. Absent in ledgers stored before it existed.
   */
  usedFloor?: string;
  /**
   * Per stream key, the highest delivery number charged so far: a stream's charges told
   * again (replayed from the hub's journal after a crash) are charged once. Absent in
   * ledgers stored before it existed.
   */
  streamSeq?: Record<string, number>;
  /**
   * Requests reserved by an API key's voucher (`reserveForKey`) whose request has not yet claimed
   * the reservation (`authorize` of the same id), with when (unix ms): one never claimed (its
   * submission died) is given back after `KEY_CLAIM_MS`. Absent when there are none.
   */
  keyPending?: Record<string, number>;
}

/** How long a reservation an API key made waits for its request before it is given back (ms). */
export const KEY_CLAIM_MS = 60_000;

/** Most vouchers kept per session; the oldest (smallest) go first. */
export const MAX_VOUCHERS = 4096;

export function newLedger(session: OnChainSession): SessionLedger {
  return { session, charged: session.settled, reserved: {}, vouchers: {} };
}

export function reservedTotal(l: SessionLedger): bigint {
  let t = 0n;
  for (const p of Object.values(l.reserved)) t += BigInt(p);
  return t;
}

/**
 * Whether a voucher of `amount` was already presented (kept for settlement, or dropped as
 * one of the oldest) or is at or below what is settled: such a voucher proves nothing about
 * who sends it, since validators, settlement transactions and earlier requests have shown it.
 */
export function voucherUsed(l: SessionLedger, amount: bigint): boolean {
  return (
    amount <= l.session.settled ||
    amount <= BigInt(l.usedFloor ?? "0") ||
    l.vouchers[amount.toString()] !== undefined
  );
}

/** The smallest voucher amount at or above `from` that was never used (what a client signs next). */
export function nextFreeVoucher(l: SessionLedger, from: bigint): bigint {
  let amount = from;
  while (voucherUsed(l, amount)) amount += 1n;
  return amount;
}

/**
 * Reserves `price` for `requestId` against a voucher of `voucherAmount`. Only the payer
 * spends: the voucher must be one the gateway has never seen (each voucher pays for one
 * request; a replayed or already-settled one is refused), and the vouchers signed so far
 * must cover everything outstanding. Throws a typed 402 error otherwise.
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
  if (voucherUsed(l, voucherAmount)) {
    const required = l.charged + reservedTotal(l) + price;
    throw new BaseError(
      "PAYMENT_REQUIRED",
      "this voucher was already used: sign a new one above what is charged (each voucher pays for one request)",
      {
        details: {
          reason: "voucher_used",
          voucher: voucherAmount.toString(),
          charged: l.charged.toString(),
          reserved: reservedTotal(l).toString(),
          required: required.toString(),
          nextFree: nextFreeVoucher(l, required).toString(),
        },
      },
    );
  }
  const needed = l.charged + reservedTotal(l) + price;
  // Vouchers are cumulative authorisations: the highest one signed so far covers requests
  // whose own (lower) voucher arrives after a later one, as happens with requests in flight.
  const authorised = bigMax(voucherAmount, highestVoucher(l));
  if (authorised < needed) {
    throw new BaseError("PAYMENT_REQUIRED", "the voucher does not cover this request", {
      details: {
        required: needed.toString(),
        voucher: voucherAmount.toString(),
        charged: l.charged.toString(),
        price: price.toString(),
      },
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

// ---- API keys ------------------------------------------------------------------------
// The gateway signs vouchers with an API key's delegate key on its holder's behalf. It signs
// each request's voucher here, where the session's vouchers are serialised: the amount is
// what is charged and reserved plus this price (the next unused one), reserved at once, so two
// requests on one key can never be given the same cumulative amount.

/**
 * Reserves `price` for `requestId` paid by an API key and says which cumulative amount its
 * voucher must carry: above everything charged and reserved, and never one already used.
 * Typed errors: the session expired (402 `PAYMENT_EXPIRED`), the deposit does not cover it
 * (402 `INSUFFICIENT_FUNDS`), the id already holds a reservation here (409 `CONFLICT`).
 */
export function reserveForKey(
  l: SessionLedger,
  requestId: string,
  price: bigint,
  nowMs: number,
): { ledger: SessionLedger; amount: bigint } {
  if (nowMs / 1000 >= l.session.expiry) {
    throw new BaseError("PAYMENT_EXPIRED", "the key's session has expired; create a new key", {
      details: { expiry: l.session.expiry },
    });
  }
  if (l.reserved[requestId] !== undefined) {
    throw new BaseError("CONFLICT", `request id ${requestId} is already in flight on this session`, {
      details: { requestId },
    });
  }
  const amount = nextFreeVoucher(l, l.charged + reservedTotal(l) + price);
  if (amount > l.session.deposit) {
    throw new BaseError("INSUFFICIENT_FUNDS", "the key's deposit is spent; top the session up", {
      details: {
        deposit: l.session.deposit.toString(),
        charged: l.charged.toString(),
        reserved: reservedTotal(l).toString(),
        price: price.toString(),
      },
    });
  }
  return {
    ledger: {
      ...l,
      reserved: { ...l.reserved, [requestId]: price.toString() },
      keyPending: { ...l.keyPending, [requestId]: nowMs },
    },
    amount,
  };
}

/** The request claimed the reservation its API key made: it is the request's own from now on. */
export function claimKeyReservation(l: SessionLedger, requestId: string): SessionLedger {
  if (l.keyPending?.[requestId] === undefined) return l;
  const { [requestId]: _, ...rest } = l.keyPending;
  return withKeyPending(l, rest);
}

/** Gives back reservations API keys made more than `KEY_CLAIM_MS` ago that no request claimed. */
export function dropUnclaimedKeyReservations(l: SessionLedger, nowMs: number): SessionLedger {
  if (!l.keyPending) return l;
  let ledger = l;
  const kept: Record<string, number> = {};
  for (const [requestId, at] of Object.entries(l.keyPending)) {
    if (nowMs - at < KEY_CLAIM_MS) kept[requestId] = at;
    else ledger = release(ledger, requestId);
  }
  return withKeyPending(ledger, kept);
}

/**
 * Whether settlement lacks a voucher for exactly what is charged: with requests of different
 * prices in flight, one that fails can leave a charged total no voucher equals. A key's next
 * request then also signs that amount (what its holder received), as the SDK acknowledges.
 */
export function needsAcknowledgement(l: SessionLedger): boolean {
  return l.charged > l.session.settled && l.vouchers[l.charged.toString()] === undefined;
}

function withKeyPending(l: SessionLedger, pending: Record<string, number>): SessionLedger {
  if (Object.keys(pending).length > 0) return { ...l, keyPending: pending };
  const { keyPending: _, ...rest } = l;
  return rest;
}

/**
 * Counts a validated request as charged `amount` (what its receipt binds; the whole
 * reservation when omitted) and releases the rest of its reservation at once. Idempotent per
 * request id. A charge above the reservation is refused (`INTERNAL`): vouchers never cover
 * less than what is charged.
 */
export function commit(l: SessionLedger, requestId: string, amount?: bigint): SessionLedger {
  const reserved = l.reserved[requestId];
  if (reserved === undefined) return l;
  const charge = amount ?? BigInt(reserved);
  if (charge < 0n || charge > BigInt(reserved)) {
    throw new BaseError("INTERNAL", "a request's charge exceeds what was reserved for it", {
      details: { requestId, reserved, charge: charge.toString() },
    });
  }
  const { [requestId]: _, ...rest } = l.reserved;
  return claimKeyReservation({ ...l, charged: l.charged + charge, reserved: rest }, requestId);
}

/** Drops a failed or cancelled request's reservation: it is never charged. */
export function release(l: SessionLedger, requestId: string): SessionLedger {
  if (l.reserved[requestId] === undefined) return l;
  const { [requestId]: _, ...rest } = l.reserved;
  return claimKeyReservation({ ...l, reserved: rest }, requestId);
}

/** Keeps a voucher for settlement; those at or below the settled amount are useless and dropped. */
export function keepVoucher(l: SessionLedger, amount: bigint, signature: string): SessionLedger {
  if (amount <= l.session.settled) return l;
  const vouchers = { ...l.vouchers, [amount.toString()]: signature };
  const amounts = Object.keys(vouchers);
  let usedFloor = l.usedFloor;
  if (amounts.length > MAX_VOUCHERS) {
    amounts.sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
    const dropped = amounts.slice(0, amounts.length - MAX_VOUCHERS);
    for (const a of dropped) delete vouchers[a];
    const top = dropped[dropped.length - 1];
    if (top !== undefined && BigInt(top) > BigInt(usedFloor ?? "0")) usedFloor = top;
  }
  return usedFloor === undefined ? { ...l, vouchers } : { ...l, vouchers, usedFloor };
}

/** After a settlement to `settled`, drop the vouchers it made useless. */
export function pruneVouchers(l: SessionLedger, settled: bigint): SessionLedger {
  const vouchers: Record<string, string> = {};
  for (const [a, sig] of Object.entries(l.vouchers)) if (BigInt(a) > settled) vouchers[a] = sig;
  return {
    ...l,
    vouchers,
    session: { ...l.session, settled: settled > l.session.settled ? settled : l.session.settled },
  };
}

export function highestVoucher(l: SessionLedger): bigint {
  let max = 0n;
  for (const a of Object.keys(l.vouchers)) {
    const v = BigInt(a);
    if (v > max) max = v;
  }
  return max;
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

// ---- stream leases ----------------------------------------------------------------
// A session stream reserves credit in blocks (a lease, kept under `lease:<key>` in
// `reserved`) rather than one request at a time, so the Session object is called once
// per block and once per validated batch, not once per request.

export function leaseKey(streamKey: string): string {
  return `lease:${streamKey}`;
}

/**
 * Adds up to `want` of the client's unspent authorisation to a stream's lease. Grants
 * less (possibly nothing) when the highest voucher does not cover more.
 */
export function grantLease(
  l: SessionLedger,
  streamKey: string,
  want: bigint,
  nowSec: number,
): { ledger: SessionLedger; granted: bigint } {
  if (nowSec >= l.session.expiry) {
    throw new BaseError("PAYMENT_EXPIRED", "the session has expired; open a new one", {
      details: { expiry: l.session.expiry },
    });
  }
  const authorised = highestVoucher(l);
  const free = authorised - l.charged - reservedTotal(l);
  const granted = want < free ? want : free;
  if (granted <= 0n) return { ledger: l, granted: 0n };
  const key = leaseKey(streamKey);
  const held = BigInt(l.reserved[key] ?? "0");
  return { ledger: { ...l, reserved: { ...l.reserved, [key]: (held + granted).toString() } }, granted };
}

/**
 * Moves validated charges from a stream's lease to what is charged. Each charge carries
 * its delivery number on the stream (1, 2, ...): those at or below the highest already
 * charged are skipped, so a charge told twice is charged once. Returns the ledger and the
 * charges that were new.
 */
export function chargeLease<C extends { seq: number; price: bigint }>(
  l: SessionLedger,
  streamKey: string,
  charges: readonly C[],
): { ledger: SessionLedger; charged: C[] } {
  const key = leaseKey(streamKey);
  const done = l.streamSeq?.[streamKey] ?? 0;
  const fresh = charges.filter((c) => c.seq > done);
  if (fresh.length === 0) return { ledger: l, charged: [] };
  let amount = 0n;
  let top = done;
  for (const c of fresh) {
    amount += c.price;
    if (c.seq > top) top = c.seq;
  }
  const held = BigInt(l.reserved[key] ?? "0");
  if (amount > held) {
    throw new BaseError("INTERNAL", "a stream charged more than its lease holds", {
      details: { held: held.toString(), amount: amount.toString() },
    });
  }
  const { [key]: _, ...rest } = l.reserved;
  const left = held - amount;
  return {
    ledger: {
      ...l,
      charged: l.charged + amount,
      reserved: left > 0n ? { ...rest, [key]: left.toString() } : rest,
      streamSeq: { ...l.streamSeq, [streamKey]: top },
    },
    charged: fresh,
  };
}

/** A stream ended and all it delivered was charged: its whole lease goes back and its numbering is forgotten. */
export function endStream(l: SessionLedger, streamKey: string): SessionLedger {
  const { [streamKey]: _, ...seqs } = l.streamSeq ?? {};
  return { ...returnLease(l, streamKey), streamSeq: seqs };
}

/** Gives back `amount` of a stream's lease (all of it when omitted): never charged. */
export function returnLease(l: SessionLedger, streamKey: string, amount?: bigint): SessionLedger {
  const key = leaseKey(streamKey);
  const held = BigInt(l.reserved[key] ?? "0");
  const left = amount === undefined || amount >= held ? 0n : held - amount;
  const { [key]: _, ...rest } = l.reserved;
  return { ...l, reserved: left > 0n ? { ...rest, [key]: left.toString() } : rest };
}

// ---- released charges ---------------------------------------------------------------
// A charge the network can never settle (its attesters gone, its session closed) is
// released: the client is not charged for it. Its price leaves the charged total, so later
// vouchers authorise that much more and settlement never collects it.

/**
 * Takes `amount` of released charges off what the session is charged. Throws when that
 * would drop the charged total below what is settled on chain: a charge that may have been
 * settled is never released.
 */
export function releaseCharged(l: SessionLedger, amount: bigint): SessionLedger {
  if (amount < 0n || l.charged - amount < l.session.settled) {
    throw new BaseError("INTERNAL", "releasing these charges would leave less charged than settled", {
      details: {
        charged: l.charged.toString(),
        settled: l.session.settled.toString(),
        amount: amount.toString(),
      },
    });
  }
  return { ...l, charged: l.charged - amount };
}

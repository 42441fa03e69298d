import { digestOf, type NcnDomain, type Payment } from "@ncn/protocol";
import { recoverDigest } from "@ncn/protocol/secp256k1";
import type { PaymentReader, SessionState } from "../chain/payment-reader.ts";
import { chainTime, chainView } from "./chain-view.ts";
import { refuse } from "./refuse.ts";
import { SignerCache } from "./signer-cache.ts";

export interface CheckPaymentInput {
  requestId: `0x${string}`;
  subnetId: `0x${string}`;
  price: bigint;
  /** Unix ms by which the request finishes; an escrow must outlive it. */
  deadline: number;
  payment: Payment;
  /** The gateway asking: the escrow or session must be opened for it (only it can be paid from them). */
  gateway: `0x${string}`;
}

/** Request fields a voucher refusal names. */
export interface VoucherFields {
  signature: string;
  amount: string;
}

const PAYMENT_FIELDS: VoucherFields = { signature: "payment.signature", amount: "payment.cumulativeAmount" };

/** A session voucher as a request carries it. */
export interface VoucherInput {
  sessionId: `0x${string}`;
  cumulativeAmount: string;
  signature: `0x${string}`;
}

/** Who signed a voucher (lowercase); `cache` spares a second recovery of the same one. */
export async function voucherSigner(
  domain: NcnDomain,
  voucher: VoucherInput,
  cache?: SignerCache,
): Promise<`0x${string}`> {
  const cumulative = BigInt(voucher.cumulativeAmount);
  const recover = () =>
    recoverDigest(
      digestOf(domain, "Voucher", { sessionId: voucher.sessionId, cumulativeAmount: cumulative }),
      voucher.signature,
    );
  const key = `voucher:${voucher.sessionId.toLowerCase()}:${cumulative}:${voucher.signature.toLowerCase()}`;
  const signer = cache ? await cache.recover(key, recover) : await recover();
  return signer.toLowerCase() as `0x${string}`;
}

/**
 * Throws a typed refusal unless the voucher is signed by the session's client or by the
 * delegate the session names now (an API key's signer; revoked, it signs nothing). With a
 * `cache`, a voucher already recovered (same session, amount and signature) is not
 * recovered again.
 */
export async function checkVoucherSigner(
  domain: NcnDomain,
  session: SessionState,
  voucher: VoucherInput,
  fields: VoucherFields = PAYMENT_FIELDS,
  cache?: SignerCache,
): Promise<void> {
  let signer: string;
  try {
    signer = await voucherSigner(domain, voucher, cache);
  } catch (e) {
    throw refuse("SIGNATURE_INVALID", "voucher_signature", "voucher signature cannot be recovered", {
      field: fields.signature,
      cause: String(e),
    });
  }
  const by = signer.toLowerCase();
  if (by !== session.client.toLowerCase() && by !== session.signer?.toLowerCase()) {
    throw refuse(
      "SIGNATURE_INVALID",
      "voucher_signer",
      "voucher is not signed by the session's client or its current delegate",
      { field: fields.signature },
    );
  }
}

/**
 * Checks that a voucher is signed by the session's client (or its current delegate), stays within the deposit and
 * raises what was settled; returns its amount.
 */
export async function checkVoucher(
  domain: NcnDomain,
  session: SessionState,
  voucher: VoucherInput,
  fields: VoucherFields = PAYMENT_FIELDS,
  cache?: SignerCache,
): Promise<bigint> {
  const cumulative = BigInt(voucher.cumulativeAmount);
  await checkVoucherSigner(domain, session, voucher, fields, cache);
  if (cumulative > session.deposit) {
    throw refuse("INSUFFICIENT_FUNDS", "voucher_exceeds_deposit", "voucher exceeds the session's deposit", {
      field: fields.amount,
      deposit: session.deposit.toString(),
    });
  }
  if (cumulative <= session.settled) {
    throw refuse(
      "PAYMENT_REQUIRED",
      "voucher_not_increasing",
      "voucher does not exceed what was already settled",
      {
        field: fields.amount,
        settled: session.settled.toString(),
      },
    );
  }
  return cumulative;
}

/**
 * Throws a typed refusal unless the request is paid on chain, to the asking gateway: an open
 * escrow under its id holding at least the price and outliving the deadline, or a session
 * voucher signed by the session's client that the deposit covers and that leaves at least
 * the price unsettled.
 */
export async function checkPayment(
  reader: PaymentReader,
  input: CheckPaymentInput,
  /**
   * How long a session's on-chain state and the chain's time may be reused (`chainView`) for
   * a session payment; 0 reads both every time. What the reused state refuses is read again
   * before the refusal stands, and a voucher signed by the session's delegate (an API key) is
   * always checked against a fresh read, so a revoked key counts at once. A settlement counts
   * within this time (settlement itself re-checks on chain; a close needs the expiry first).
   * Escrows are always read, with the time.
   */
  sessionTimeMs = 0,
): Promise<void> {
  const { payment } = input;
  if (payment.mode === "escrow") {
    const chainNow = await reader.now();
    const escrow = await reader.escrow(input.requestId);
    if (!escrow || escrow.status === "none") {
      throw refuse("PAYMENT_REQUIRED", "escrow_missing", "no escrow is open for this request", {
        field: "payment",
      });
    }
    if (escrow.status !== "pending") {
      throw refuse("PAYMENT_REQUIRED", `escrow_${escrow.status}`, `the escrow was already ${escrow.status}`, {
        field: "payment",
      });
    }
    if (escrow.gateway !== input.gateway) {
      throw refuse("FORBIDDEN", "escrow_gateway_mismatch", "the escrow was opened for another gateway", {
        field: "payment",
      });
    }
    if (escrow.subnetId.toLowerCase() !== input.subnetId.toLowerCase()) {
      throw refuse("PAYMENT_REQUIRED", "escrow_subnet_mismatch", "the escrow was opened for another subnet", {
        field: "subnet",
      });
    }
    if (escrow.expiry <= chainNow) {
      throw refuse("PAYMENT_EXPIRED", "escrow_expired", "the escrow has expired", {
        field: "payment",
        expiry: escrow.expiry.toString(),
      });
    }
    if (escrow.expiry * 1000n < BigInt(input.deadline)) {
      throw refuse(
        "PAYMENT_EXPIRED",
        "escrow_expires_before_deadline",
        "the escrow expires before the deadline",
        {
          field: "deadline",
          expiry: escrow.expiry.toString(),
        },
      );
    }
    if (escrow.amount < input.price) {
      throw refuse("INSUFFICIENT_FUNDS", "escrow_underpaid", "the escrow holds less than the price", {
        field: "price",
        amount: escrow.amount.toString(),
        price: input.price.toString(),
      });
    }
    return;
  }
  // One recovery of the voucher's signer, whichever state it is checked against.
  const signers = new SignerCache(1);
  const check = async ([state, chainNow]: readonly [SessionState | null, bigint]) => {
    const session = checkSessionOpen(state, chainNow);
    if (session.gateway !== input.gateway) {
      throw refuse("FORBIDDEN", "session_gateway_mismatch", "the session belongs to another gateway", {
        field: "payment.sessionId",
      });
    }
    const cumulative = await checkVoucher(reader.domain, session, payment, PAYMENT_FIELDS, signers);
    if (cumulative - session.settled < input.price) {
      throw refuse(
        "INSUFFICIENT_FUNDS",
        "voucher_underpaid",
        "the voucher leaves less than the price unsettled",
        {
          field: "payment.cumulativeAmount",
          unsettled: (cumulative - session.settled).toString(),
          price: input.price.toString(),
        },
      );
    }
  };
  if (sessionTimeMs <= 0) {
    return check(await Promise.all([reader.session(payment.sessionId), chainTime(reader, 0)]));
  }
  // The session as read at most `sessionTimeMs` ago; what it refuses is read again before the
  // refusal stands (a session opened, topped up or given a key since then is not refused).
  const [seen, seenNow, cached] = await chainView(reader, payment.sessionId, sessionTimeMs);
  // A voucher signed by the session's delegate (an API key) is checked against the signer the
  // session names now: a revoked key counts at once. The client's own key cannot be revoked.
  const delegateSigned =
    seen?.signer !== undefined &&
    (await voucherSigner(reader.domain, payment, signers).catch(() => undefined)) !==
      seen.client.toLowerCase();
  if (!delegateSigned) {
    try {
      return await check([seen, seenNow]);
    } catch (e) {
      if (!cached) throw e;
    }
  }
  const [fresh, freshNow] = await chainView(reader, payment.sessionId, 0);
  return check([fresh, freshNow]);
}

/**
 * Throws a typed refusal unless the session exists, is not closed and has not expired at
 * `chainNow` (unix seconds); returns it.
 */
export function checkSessionOpen(
  session: SessionState | null,
  chainNow: bigint,
  field = "payment.sessionId",
): SessionState {
  if (!session) {
    throw refuse("PAYMENT_REQUIRED", "session_unknown", "no session with this id", { field });
  }
  if (session.closed) {
    throw refuse("PAYMENT_EXPIRED", "session_closed", "the session is closed", { field });
  }
  if (session.expiry <= chainNow) {
    throw refuse("PAYMENT_EXPIRED", "session_expired", "the session has expired", {
      field,
      expiry: session.expiry.toString(),
    });
  }
  return session;
}

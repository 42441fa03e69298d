import { describe, expect, test } from "bun:test";
import { BaseError } from "@ncn/protocol";
import {
  authorize,
  claimKeyReservation,
  commit,
  dropUnclaimedKeyReservations,
  KEY_CLAIM_MS,
  keepVoucher,
  needsAcknowledgement,
  newLedger,
  release,
  reservedTotal,
  reserveForKey,
} from "./session-ledger.ts";

const session = { client: "0xc", gateway: "0xg", deposit: 100n, settled: 0n, expiry: 2_000 };
const T = 1_000_000; // ms, before the expiry (2,000 s)

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (e) {
    if (e instanceof BaseError) return e.code;
    throw e;
  }
  return undefined;
}

describe("session ledger: API keys", () => {
  test("requests on one key each reserve their price under a distinct cumulative amount", () => {
    let l = newLedger(session);
    const amounts: bigint[] = [];
    for (const id of ["a", "b", "c"]) {
      const r = reserveForKey(l, id, 10n, T);
      amounts.push(r.amount);
      l = keepVoucher(r.ledger, r.amount, `0x${id}`);
    }
    expect(amounts).toEqual([10n, 20n, 30n]);
    expect(reservedTotal(l)).toBe(30n);
    // b fails: outstanding is 20 again, and the next amount skips every voucher already signed (30).
    l = release(l, "b");
    const next = reserveForKey(l, "d", 10n, T);
    expect(next.amount).toBe(31n);
  });

  test("the request claims its reservation with the key's voucher; a claimed one is the request's own", () => {
    const r = reserveForKey(newLedger(session), "a", 10n, T);
    let l = keepVoucher(r.ledger, r.amount, "0xa");
    expect(l.keyPending).toEqual({ a: T });
    // The Request object's payment check: the id already holds the reservation (a retry).
    expect(authorize(l, "a", 10n, r.amount, T / 1000)).toBe(l);
    l = claimKeyReservation(l, "a");
    expect(l.keyPending).toBeUndefined();
    expect(dropUnclaimedKeyReservations(l, T + KEY_CLAIM_MS * 2)).toEqual(l);
    l = commit(l, "a");
    expect([l.charged, reservedTotal(l)]).toEqual([10n, 0n]);
  });

  test("a reservation no request claimed goes back after KEY_CLAIM_MS, not before", () => {
    const l = reserveForKey(newLedger(session), "a", 10n, T).ledger;
    expect(dropUnclaimedKeyReservations(l, T + KEY_CLAIM_MS - 1)).toEqual(l);
    const dropped = dropUnclaimedKeyReservations(l, T + KEY_CLAIM_MS);
    expect([reservedTotal(dropped), dropped.keyPending]).toEqual([0n, undefined]);
  });

  test("deposit spent: 402 INSUFFICIENT_FUNDS and nothing reserved; expired: PAYMENT_EXPIRED; an id in flight: CONFLICT", () => {
    let l = newLedger(session);
    for (let i = 0; i < 10; i++) {
      const r = reserveForKey(l, `r${i}`, 10n, T);
      l = keepVoucher(r.ledger, r.amount, "0x1");
    }
    expect(codeOf(() => reserveForKey(l, "over", 1n, T))).toBe("INSUFFICIENT_FUNDS");
    expect(l.reserved.over).toBeUndefined();
    expect(codeOf(() => reserveForKey(newLedger(session), "x", 1n, 2_000_000))).toBe("PAYMENT_EXPIRED");
    expect(codeOf(() => reserveForKey(l, "r3", 1n, T))).toBe("CONFLICT");
  });

  test("a charged total no voucher equals asks for an acknowledgement", () => {
    let l = newLedger(session);
    const a = reserveForKey(l, "a", 10n, T);
    l = keepVoucher(a.ledger, a.amount, "0xa");
    const b = reserveForKey(l, "b", 5n, T);
    l = keepVoucher(b.ledger, b.amount, "0xb");
    expect(needsAcknowledgement(l)).toBe(false);
    // a fails, b is charged: charged 5, vouchers at 10 and 15.
    l = commit(release(l, "a"), "b");
    expect(l.charged).toBe(5n);
    expect(needsAcknowledgement(l)).toBe(true);
    l = keepVoucher(l, 5n, "0xack");
    expect(needsAcknowledgement(l)).toBe(false);
  });
});

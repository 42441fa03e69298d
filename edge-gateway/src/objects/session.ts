import { DurableObject } from "cloudflare:workers";
import { BaseError, ncnDomain, typedData } from "@ncn/protocol";
import { recoverTypedDataAddress } from "viem";
import { privateKeyToAccount } from "viem/accounts";
import { chainOf } from "../chain/viem-chain.ts";
import { configOf, type Env } from "../env.ts";
import {
  authorize,
  chargeLease,
  claimKeyReservation,
  commit,
  dropUnclaimedKeyReservations,
  endStream,
  grantLease,
  highestVoucher,
  keepVoucher,
  needsAcknowledgement,
  newLedger,
  pruneVouchers,
  release,
  releaseCharged,
  reservedTotal,
  reserveForKey,
  returnLease,
  type SessionLedger,
} from "../logic/session-ledger.ts";
import type { StreamStanding } from "../logic/stream/types.ts";
import { type Rpc, rpc } from "../rpc.ts";
import type { ChargeEntry } from "./settlement-store.ts";

/** Key prefix of charges not yet handed to the Settlement object. */
const OUTBOX = "outbox:";
/** When a crash left charges in the outbox, the alarm hands them over this long after. */
const OUTBOX_RETRY_MS = 5_000;

/** How long "no such session" is remembered before the chain is read again. */
const NEGATIVE_CACHE_MS = 10_000;

/**
 * How long the session's delegate voucher signer (an API key's address) read from chain is
 * reused: a revoked key stops being accepted here at most this long after the revocation is
 * mined (validators read it per call, at most a second old; the contract at settlement).
 */
export const DELEGATE_CACHE_MS = 10_000;

/** A voucher the gateway signed with an API key's delegate key. */
export interface KeyVoucher {
  cumulativeAmount: string;
  signature: `0x${string}`;
}

/** Entry the Settlement object batches once a request of this session was charged. */
export interface ChargedRequest {
  agent: `0x${string}`;
  receiptDigest: `0x${string}`;
  /** Validators (URLs) that attested the receipt: settlement asks them to sign for it (absent: not known). */
  attesters?: string[] | undefined;
}

/** A charge settlement gave up on: the client is not charged for it. */
export interface ReleasedCharge {
  requestId: string;
  price: string;
  reason: string;
  at: number;
}

/** A session as a stream sees it: highest voucher, charged total, deposit (base units). */
export type { StreamStanding };

export interface SessionSnapshot {
  sessionId: string;
  charged: string;
  /** Charges released unsettled (not charged to the client), in total. */
  released: string;
  /**
   * Of `released`, charges the client signed no voucher for (results it says it never got,
   * or a client that never acknowledged them).
   */
  unacknowledged: string;
  settled: string;
  vouchers: { amount: string; signature: `0x${string}` }[];
}

/**
 * One prepaid session: the serialisation point for its vouchers. It checks each
 * voucher's signature against the session's client, keeps what is reserved by
 * requests in flight and what validated requests have charged.
 */
export class SessionObject extends DurableObject<Env> {
  #ledger: SessionLedger | undefined;
  #outboxSeq = 0;
  /** Outbox entries the Settlement object took, deleted with the next write. */
  #handedOver: string[] = [];
  /** An alarm is set in this instance (it hands over what the outbox still holds). */
  #alarmSet = false;
  /** Until when this session is known not to exist on chain (ms). */
  #unknownUntil = 0;
  /** The session's delegate voucher signer as last read from chain (lowercase, null: none), and when. */
  #delegate: { signer: string | null; at: number } | undefined;

  /** The session's delegate voucher signer, read from chain at most every `DELEGATE_CACHE_MS`. */
  async #currentDelegate(sessionId: `0x${string}`): Promise<string | null> {
    const now = Date.now();
    if (this.#delegate && now - this.#delegate.at < DELEGATE_CACHE_MS) return this.#delegate.signer;
    const signer = await chainOf(configOf(this.env)).readSessionSigner(sessionId);
    this.#delegate = { signer, at: now };
    return signer;
  }

  async #load(sessionId: `0x${string}`, refresh = false): Promise<SessionLedger> {
    this.#ledger ??= await this.ctx.storage.get<SessionLedger>("ledger");
    if (this.#ledger && !refresh) return this.#ledger;
    const missing = () =>
      new BaseError("PAYMENT_REQUIRED", "no such session on chain; open one first", {
        details: { sessionId },
      });
    // A session that does not exist costs one chain read per NEGATIVE_CACHE_MS, however often it is named.
    if (!this.#ledger && Date.now() < this.#unknownUntil) throw missing();
    const session = await chainOf(configOf(this.env)).readSession(sessionId);
    if (!session) {
      this.#unknownUntil = Date.now() + NEGATIVE_CACHE_MS;
      throw missing();
    }
    const chain = chainOf(configOf(this.env));
    if (session.gateway.toLowerCase() !== chain.gateway.toLowerCase()) {
      throw new BaseError("PAYMENT_REQUIRED", "the session is opened for another gateway", {
        details: { sessionId, gateway: chain.gateway },
      });
    }
    const prev = this.#ledger;
    this.#ledger = prev
      ? { ...prev, session, charged: bigMax(prev.charged, session.settled) }
      : newLedger(session);
    await this.ctx.storage.put("ledger", this.#ledger);
    return this.#ledger;
  }

  /**
   * Reserves `price` for a request against the client's voucher; typed 402 errors otherwise.
   * Answers the session's client: the request's payer.
   */
  authorize(
    sessionId: `0x${string}`,
    requestId: string,
    price: string,
    cumulativeAmount: string,
    signature: `0x${string}`,
  ): Promise<Rpc<string>> {
    return rpc(() => this.#authorize(sessionId, requestId, price, cumulativeAmount, signature));
  }

  async #authorize(
    sessionId: `0x${string}`,
    requestId: string,
    price: string,
    cumulativeAmount: string,
    signature: `0x${string}`,
  ): Promise<string> {
    await this.#bind(sessionId);
    const amount = BigInt(cumulativeAmount);
    let ledger = await this.#checkVoucher(sessionId, amount, signature);
    if (ledger.reserved[requestId] !== undefined) {
      // A retry, or the request an API key reserved for (`keyVoucher`) claiming its reservation.
      if (ledger.keyPending?.[requestId] !== undefined) {
        ledger = claimKeyReservation(ledger, requestId);
        this.#ledger = ledger;
        await this.ctx.storage.put("ledger", ledger);
      }
      return ledger.session.client.toLowerCase();
    }
    ledger = authorize(ledger, requestId, BigInt(price), amount, Math.floor(Date.now() / 1000));
    ledger = keepVoucher(ledger, amount, signature);
    this.#ledger = ledger;
    await this.ctx.storage.put("ledger", ledger);
    return ledger.session.client.toLowerCase();
  }

  /**
   * An API key's voucher for request `requestId`: the gateway signs, with the key's delegate
   * key, the next cumulative amount (what is charged and reserved plus `price`) and reserves
   * `price` for the request, in one turn of this object, so concurrent requests on one key get
   * distinct amounts. The request claims the reservation when its payment is checked
   * (`authorize` with this voucher); one never claimed is given back after `KEY_CLAIM_MS`.
   * The private key is used for this call only: never stored, never logged.
   * Typed errors: 401 `INVALID_API_KEY` (no such session here), 401 `API_KEY_REVOKED` (the
   * session does not name this key's signer now), 402 (expired, deposit spent).
   */
  keyVoucher(
    sessionId: `0x${string}`,
    requestId: string,
    price: string,
    privateKey: `0x${string}`,
  ): Promise<Rpc<KeyVoucher>> {
    return rpc(() => this.#keyVoucher(sessionId, requestId, BigInt(price), privateKey));
  }

  async #keyVoucher(
    sessionId: `0x${string}`,
    requestId: string,
    price: bigint,
    privateKey: `0x${string}`,
  ): Promise<KeyVoucher> {
    await this.#bind(sessionId);
    const delegate = privateKeyToAccount(privateKey);
    let ledger: SessionLedger;
    try {
      ledger = await this.#load(sessionId);
    } catch (e) {
      if (!(e instanceof BaseError) || e.code !== "PAYMENT_REQUIRED") throw e;
      throw new BaseError("INVALID_API_KEY", "the API key's session is not one this gateway serves", {
        details: { sessionId, reason: e.shortMessage },
      });
    }
    if ((await this.#currentDelegate(sessionId)) !== delegate.address.toLowerCase()) {
      throw new BaseError(
        "API_KEY_REVOKED",
        "this API key was revoked: its session no longer names its signer",
        {
          details: { sessionId },
        },
      );
    }
    // A top-up or an extension shows only on chain: read it again before refusing for them.
    const outstanding = ledger.charged + reservedTotal(ledger) + price;
    if (outstanding > ledger.session.deposit || Date.now() / 1000 >= ledger.session.expiry) {
      ledger = await this.#load(sessionId, true);
    }
    // From here to the reservation nothing waits on I/O, so no other call of this object runs
    // between; calls that ran during the reads above changed the ledger held here, not `ledger`.
    const now = Date.now();
    const current = this.#ledger ?? ledger;
    const reserved = reserveForKey(dropUnclaimedKeyReservations(current, now), requestId, price, now);
    this.#ledger = reserved.ledger;
    const domain = this.#domain();
    const sign = (cumulativeAmount: bigint) =>
      delegate.signTypedData(typedData(domain, "Voucher", { sessionId, cumulativeAmount }));
    const acknowledged = needsAcknowledgement(reserved.ledger) ? reserved.ledger.charged : undefined;
    const [signature, acknowledgement] = await Promise.all([
      sign(reserved.amount),
      acknowledged === undefined ? undefined : sign(acknowledged),
    ]);
    // Other calls may have changed the ledger while signing: keep the vouchers on the current one.
    let next = keepVoucher(this.#ledger, reserved.amount, signature);
    if (acknowledged !== undefined && acknowledgement !== undefined) {
      next = keepVoucher(next, acknowledged, acknowledgement);
    }
    this.#ledger = next;
    await this.ctx.storage.put("ledger", next);
    return { cumulativeAmount: reserved.amount.toString(), signature };
  }

  /**
   * Signs with an API key's delegate key a voucher for exactly what the session is charged,
   * when none equals it (`needsAcknowledgement`): a request priced per token is charged less
   * than the voucher that authorised it, and settlement goes only to a voucher amount the
   * charges reach exactly. The key is used for this call only. Does nothing for a key the
   * session does not name now.
   */
  keyAcknowledge(sessionId: `0x${string}`, privateKey: `0x${string}`): Promise<Rpc<void>> {
    return rpc(async () => {
      await this.#bind(sessionId);
      const delegate = privateKeyToAccount(privateKey);
      await this.#load(sessionId);
      if ((await this.#currentDelegate(sessionId)) !== delegate.address.toLowerCase()) return;
      const ledger = this.#ledger;
      if (!ledger || !needsAcknowledgement(ledger)) return;
      const amount = ledger.charged;
      const signature = await delegate.signTypedData(
        typedData(this.#domain(), "Voucher", { sessionId, cumulativeAmount: amount }),
      );
      // Other calls may have changed the ledger while signing: keep the voucher on the current one.
      const next = keepVoucher(this.#ledger ?? ledger, amount, signature);
      this.#ledger = next;
      await this.ctx.storage.put("ledger", next);
    });
  }

  /**
   * Checks a voucher's signature against the session's client (reading the chain again
   * once when it goes above the known deposit or the session looks expired).
   */
  async #checkVoucher(sessionId: `0x${string}`, amount: bigint, signature: `0x${string}`) {
    const ledger = await this.#load(sessionId);
    let signer: string;
    try {
      signer = await recoverTypedDataAddress({
        ...typedData(this.#domain(), "Voucher", {
          sessionId,
          cumulativeAmount: amount,
        }),
        signature,
      });
    } catch {
      throw new BaseError("PAYMENT_REQUIRED", "the voucher signature cannot be recovered");
    }
    const by = signer.toLowerCase();
    if (by !== ledger.session.client.toLowerCase() && by !== (await this.#currentDelegate(sessionId))) {
      throw new BaseError(
        "PAYMENT_REQUIRED",
        "the voucher is not signed by the session's client or its current delegate",
      );
    }
    // The ledger as it is now (other calls may have changed it while the delegate was read).
    return await this.#load(
      sessionId,
      amount > ledger.session.deposit || Date.now() / 1000 >= ledger.session.expiry,
    );
  }

  // ---- session streams ---------------------------------------------------------------

  /**
   * Checks a stream's answer to its challenge: the EIP-712 `StreamAuth` {sessionId, nonce}
   * must be signed by the session's client. Answers the session's standing.
   */
  streamAuth(
    sessionId: `0x${string}`,
    nonce: `0x${string}`,
    signature: `0x${string}`,
  ): Promise<Rpc<StreamStanding>> {
    return rpc(async () => {
      await this.#bind(sessionId);
      const ledger = await this.#load(sessionId);
      let signer: string;
      try {
        signer = await recoverTypedDataAddress({
          ...typedData(this.#domain(), "StreamAuth", {
            sessionId,
            nonce,
          }),
          signature,
        });
      } catch {
        throw new BaseError("PAYMENT_REQUIRED", "the stream's challenge signature cannot be recovered");
      }
      if (signer.toLowerCase() !== ledger.session.client.toLowerCase()) {
        throw new BaseError(
          "PAYMENT_REQUIRED",
          "the stream's challenge is not signed by the session's client",
        );
      }
      if (Date.now() / 1000 >= ledger.session.expiry) {
        throw new BaseError("PAYMENT_EXPIRED", "the session has expired; open a new one", {
          details: { expiry: ledger.session.expiry },
        });
      }
      return this.#standing(ledger);
    });
  }

  /**
   * A voucher signed by the session's client, sent on a stream whose challenge it answered
   * or posted on its own (`POST /v1/sessions/:id/vouchers`): checked and kept (it authorises
   * spending and, when it equals a charged total, is what settlement uses).
   * Answers the session's standing.
   */
  voucher(sessionId: `0x${string}`, amount: string, signature: `0x${string}`): Promise<Rpc<StreamStanding>> {
    return rpc(async () => {
      await this.#bind(sessionId);
      const value = BigInt(amount);
      let ledger = await this.#checkVoucher(sessionId, value, signature);
      if (value > ledger.session.deposit) {
        throw new BaseError("INSUFFICIENT_FUNDS", "the voucher exceeds the session's deposit; top it up", {
          details: { deposit: ledger.session.deposit.toString(), voucher: amount },
        });
      }
      if (Date.now() / 1000 >= ledger.session.expiry) {
        throw new BaseError("PAYMENT_EXPIRED", "the session has expired; open a new one", {
          details: { expiry: ledger.session.expiry },
        });
      }
      ledger = keepVoucher(ledger, value, signature);
      this.#ledger = ledger;
      await this.ctx.storage.put("ledger", ledger);
      return this.#standing(ledger);
    });
  }

  /** Adds up to `want` of unspent authorisation to a stream's lease. */
  lease(
    sessionId: `0x${string}`,
    streamKey: string,
    want: string,
  ): Promise<Rpc<StreamStanding & { granted: string }>> {
    return rpc(async () => {
      await this.#bind(sessionId);
      const r = grantLease(
        await this.#load(sessionId),
        streamKey,
        BigInt(want),
        Math.floor(Date.now() / 1000),
      );
      if (r.granted > 0n) {
        this.#ledger = r.ledger;
        await this.ctx.storage.put("ledger", r.ledger);
      }
      return { ...this.#standing(r.ledger), granted: r.granted.toString() };
    });
  }

  /**
   * Charges a validated stream batch from the stream's lease and queues it for settlement.
   * Each charge carries its delivery number on the stream: a charge told again (the hub
   * replaying its journal after a crash) is charged once.
   */
  streamCommit(
    sessionId: `0x${string}`,
    streamKey: string,
    charges: (ChargedRequest & { requestId: string; price: string; seq: number })[],
  ): Promise<Rpc<StreamStanding>> {
    return rpc(async () => {
      await this.#bind(sessionId);
      const r = chargeLease(
        await this.#load(sessionId),
        streamKey,
        charges.map((c) => ({ ...c, price: BigInt(c.price) })),
      );
      if (r.charged.length > 0) {
        await this.#charged(
          r.ledger,
          r.charged.map((c) => ({
            requestId: c.requestId,
            sessionId,
            agent: c.agent,
            price: c.price.toString(),
            receiptDigest: c.receiptDigest,
            attesters: c.attesters,
          })),
        );
      }
      return this.#standing(r.ledger);
    });
  }

  /** A stream ended with all it delivered charged: the rest of its lease goes back. */
  async endStream(streamKey: string): Promise<void> {
    await this.#update((l) => endStream(l, streamKey));
  }

  /** Applies `change` to the stored ledger, if there is one, and stores the result. */
  async #update(change: (l: SessionLedger) => SessionLedger): Promise<void> {
    this.#ledger ??= await this.ctx.storage.get<SessionLedger>("ledger");
    if (!this.#ledger) return;
    this.#ledger = change(this.#ledger);
    await this.ctx.storage.put("ledger", this.#ledger);
  }

  /**
   * Stores the ledger with what it newly charged, in one write, then hands the charges to
   * the Settlement object. The charges wait in an outbox until it took them: a crash between
   * the two leaves them there, and the alarm hands them over again (marked so, the queue
   * leaves out those it already holds, settled or released).
   */
  async #charged(ledger: SessionLedger, entries: ChargeEntry[]): Promise<void> {
    // One outbox entry per call, however many charges it holds.
    const key = `${OUTBOX}${Date.now().toString(36)}:${(this.#outboxSeq++).toString(36)}`;
    this.#ledger = ledger;
    // One write (the output gate holds the call below until it is stored), which also drops
    // the entries handed over before: deleting each on its own would be one more write that
    // every answer waits for.
    const writes: Promise<unknown>[] = [this.ctx.storage.put({ ledger, [key]: entries })];
    if (this.#handedOver.length > 0) writes.push(this.ctx.storage.delete(this.#handedOver.splice(0)));
    if (!this.#alarmSet) {
      this.#alarmSet = true;
      writes.push(this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS));
    }
    await Promise.all(writes);
    await this.#handOver(key, entries, false);
  }

  async #handOver(key: string, entries: ChargeEntry[], again: boolean): Promise<void> {
    const settlement = this.env.SETTLEMENT.get(this.env.SETTLEMENT.idFromName("main"));
    await settlement.addMany(entries, again);
    this.#handedOver.push(key);
  }

  /** Hands over charges a crash (or a failed hand-over) left in the outbox; comes back while some remain. */
  override async alarm(): Promise<void> {
    this.#alarmSet = false;
    if (this.#handedOver.length > 0) await this.ctx.storage.delete(this.#handedOver.splice(0));
    const left = await this.ctx.storage.list<ChargeEntry[]>({ prefix: OUTBOX, limit: 100 });
    if (left.size === 0) return;
    this.#alarmSet = true;
    await this.ctx.storage.setAlarm(Date.now() + OUTBOX_RETRY_MS);
    for (const [key, entries] of left) await this.#handOver(key, entries, true);
  }

  /** Gives a stream's lease back (`amount`, or all of it): never charged. */
  async returnLease(streamKey: string, amount?: string): Promise<void> {
    await this.#update((l) => returnLease(l, streamKey, amount === undefined ? undefined : BigInt(amount)));
  }

  #standing(l: SessionLedger): StreamStanding {
    return {
      authorised: highestVoucher(l).toString(),
      charged: l.charged.toString(),
      deposit: l.session.deposit.toString(),
    };
  }

  /**
   * Counts a validated request as charged `price` (its receipt's, at most what was reserved;
   * the rest of the reservation is released) and queues it for batch settlement.
   */
  commit(
    sessionId: `0x${string}`,
    requestId: string,
    price: string,
    entry: ChargedRequest,
  ): Promise<Rpc<void>> {
    return rpc(() => this.#commit(sessionId, requestId, BigInt(price), entry));
  }

  async #commit(
    sessionId: `0x${string}`,
    requestId: string,
    price: bigint,
    entry: ChargedRequest,
  ): Promise<void> {
    await this.#bind(sessionId);
    const ledger = await this.#load(sessionId);
    if (ledger.reserved[requestId] === undefined) return; // already committed (retry) or released
    await this.#charged(commit(ledger, requestId, price), [
      {
        requestId,
        sessionId,
        agent: entry.agent,
        price: price.toString(),
        receiptDigest: entry.receiptDigest,
        attesters: entry.attesters,
      },
    ]);
  }

  /** Drops a failed request's reservation. */
  async release(requestId: string): Promise<void> {
    if (!this.#ledger) this.#ledger = await this.ctx.storage.get<SessionLedger>("ledger");
    if (!this.#ledger) return;
    this.#ledger = release(this.#ledger, requestId);
    await this.ctx.storage.put("ledger", this.#ledger);
  }

  /**
   * The voucher that authorises what is reserved now: the highest the client signed.
   * Validators check it (not a request's own, possibly older, voucher), which matches how
   * `authorize` counted it and stays above what settlement may meanwhile have collected.
   */
  async authorisingVoucher(): Promise<{ amount: string; signature: `0x${string}` } | null> {
    this.#ledger ??= await this.ctx.storage.get<SessionLedger>("ledger");
    const l = this.#ledger;
    if (!l) return null;
    const top = highestVoucher(l);
    const signature = l.vouchers[top.toString()];
    return signature ? { amount: top.toString(), signature: signature as `0x${string}` } : null;
  }

  async snapshot(): Promise<SessionSnapshot | null> {
    this.#ledger ??= await this.ctx.storage.get<SessionLedger>("ledger");
    const l = this.#ledger;
    if (!l) return null;
    return {
      sessionId: (await this.ctx.storage.get<string>("sessionId")) ?? "",
      charged: l.charged.toString(),
      ...totalsOf(await this.ctx.storage.get<bigint>(RELEASED_TOTALS)),
      settled: l.session.settled.toString(),
      vouchers: Object.entries(l.vouchers).map(([amount, signature]) => ({
        amount,
        signature: signature as `0x${string}`,
      })),
    };
  }

  /**
   * Takes charges that can never be settled off what the client is charged, once per request
   * id (settlement may tell again after a failure), keeping a record of each and why.
   */
  releaseCharges(
    sessionId: `0x${string}`,
    charges: { requestId: string; price: string; reason: string }[],
  ): Promise<Rpc<{ released: string; charged: string }>> {
    return rpc(async () => {
      await this.#bind(sessionId);
      const keys = charges.map((c) => `released:${c.requestId}`);
      const known = await this.ctx.storage.get<ReleasedCharge>(keys);
      const fresh = charges.filter((c) => !known.has(`released:${c.requestId}`));
      // Read what is settled now: the release must not undercut it.
      let ledger = await this.#load(sessionId, true);
      const amount = fresh.reduce((t, c) => t + BigInt(c.price), 0n);
      ledger = releaseCharged(ledger, amount);
      const before = await this.ctx.storage.get<bigint>(RELEASED_TOTALS);
      const unacknowledged = fresh
        .filter((c) => c.reason === "unacknowledged")
        .reduce((t, c) => t + BigInt(c.price), 0n);
      const at = Date.now();
      const records: Record<string, unknown> = {
        ledger,
        releasedTotal: (before.get("releasedTotal") ?? 0n) + amount,
        unacknowledgedTotal: (before.get("unacknowledgedTotal") ?? 0n) + unacknowledged,
      };
      for (const c of fresh) records[`released:${c.requestId}`] = { ...c, at } satisfies ReleasedCharge;
      await this.ctx.storage.put(records);
      this.#ledger = ledger;
      return { released: amount.toString(), charged: ledger.charged.toString() };
    });
  }

  /** Marks a settlement of this session as mined. */
  async settled(amount: string): Promise<void> {
    await this.#update((l) => pruneVouchers(l, BigInt(amount)));
  }

  /** The payment contract's EIP-712 domain: vouchers and stream challenges are signed in it. */
  #domain() {
    const config = configOf(this.env);
    return ncnDomain(config.CHAIN_ID, config.PAYMENT_CONTRACT);
  }

  /** The object is named by its session id; remember it for calls that do not carry it. */
  async #bind(sessionId: `0x${string}`): Promise<void> {
    const stored = await this.ctx.storage.get<string>("sessionId");
    if (stored === undefined) await this.ctx.storage.put("sessionId", sessionId);
    else if (stored !== sessionId)
      throw new BaseError("INTERNAL", "session object addressed with another session id");
  }
}

/** Storage keys of the released totals: all released, and of those, the unacknowledged. */
const RELEASED_TOTALS = ["releasedTotal", "unacknowledgedTotal"];

function totalsOf(got: Map<string, bigint>): { released: string; unacknowledged: string } {
  return {
    released: (got.get("releasedTotal") ?? 0n).toString(),
    unacknowledged: (got.get("unacknowledgedTotal") ?? 0n).toString(),
  };
}

function bigMax(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

import { DurableObject } from "cloudflare:workers";
import { merkleBatch } from "@ncn/protocol";
import { type ChainPort, ChainRevertedError } from "../chain/port.ts";
import { chainOf } from "../chain/viem-chain.ts";
import { type Config, configOf, type Env } from "../env.ts";
import { logger } from "../log.ts";
import {
  describeWaiting,
  planBatches,
  type SessionVouchers,
  withStaleAttestersUnknown,
} from "../logic/batch.ts";
import { judgeAnswers, type SettlementAnswer } from "../logic/settlement-answers.ts";
import { type SettlementProblem, safeToken, settlementProblemOf } from "../logic/settlement-problem.ts";
import { chargesToRelease } from "../logic/settlement-release.ts";
import { unwrap } from "../rpc.ts";
import { probeValidators } from "../validators/health.ts";
import { askSettlementSignatures } from "../validators/settlement.ts";
import {
  type ChargeEntry,
  SettlementStore,
  type StoredBatch,
  type ValidatorRow,
} from "./settlement-store.ts";

const log = logger("gateway:settlement");
/** Shortest pause between two settlement attempts started by arriving charges. */
const MIN_FLUSH_GAP_MS = 500;
/** Most receipts in one settlement transaction (the settlement request's limit). */
const MAX_BATCH = 1000;
/** Most new batches planned in one attempt. */
const MAX_NEW_BATCHES = 8;
/** Session objects are told of releases in groups of at most this many (storage batch limits). */
const RELEASE_CHUNK = 100;
/**
 * Rounds a batch may wait for signatures that validators cannot give yet (busy, or a receipt
 * claimed by a batch they have not seen abandoned) before it is abandoned and planned again.
 */
const MAX_SIGNING_ROUNDS = 10;
/** Notes of late attesters whose charge never came are dropped after this long. */
const LATE_ATTESTERS_TTL_MS = 10 * 60_000;

export interface SettlementStatus extends ReturnType<SettlementStore["figures"]> {
  /** Batches persisted and not yet settled or abandoned on chain. */
  inFlight: {
    batchId: string;
    state: string;
    requests: number;
    sessions: number;
    ageMs: number;
    attempts: number;
    signedBy: string[];
    error: SettlementProblem | null;
  }[];
  validators: (Omit<ValidatorRow, "downSince" | "checkedAt"> & { downForMs: number | null })[];
  /** What kept the last attempt from settling everything (codes and the gateway's own text). */
  problems: SettlementProblem[];
}

/**
 * Settles charged session requests on chain in batches, every SETTLE_EVERY requests or
 * SETTLE_INTERVAL_MS. Each batch is persisted (id, members, content) before any validator
 * sees it and is only ever sent again as it is, until the chain says it settled or it was
 * abandoned there; only then are its charges planned again. Batches are formed by which
 * validators attested which receipts (see `planBatches`); a refused batch is split by what
 * the refusals name; charges that can never gather a quorum are released (not charged).
 */
export class SettlementObject extends DurableObject<Env> {
  readonly #store: SettlementStore;
  #flushing: Promise<void> | undefined;
  #problems: SettlementProblem[] = [];
  #lastFlushAt = 0;
  /** Charges added since the last attempt began: SETTLE_EVERY of them start one. */
  #added = 0;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.#store = new SettlementStore(ctx.storage.sql, (fn) => ctx.storage.transactionSync(fn));
  }

  /**
   * Queues charges in order (a stream's validated batch arrives as one call). `again`: they
   * may have been queued before (a Session object handing over its outbox after a crash):
   * those already settled or released are left out.
   */
  async addMany(entries: ChargeEntry[], again = false): Promise<void> {
    this.#store.addCharges(entries, Date.now(), again);
    this.#added += entries.length;
    const config = configOf(this.env);
    // A full batch settles now, unless one is being settled or was tried a moment ago (its
    // charges may still wait for the client's voucher): then the alarm comes back for it.
    // Charges still waiting (for a validator, say) do not count: they would start attempts
    // that cannot settle them.
    if (
      this.#added >= config.SETTLE_EVERY &&
      !this.#flushing &&
      Date.now() - this.#lastFlushAt >= MIN_FLUSH_GAP_MS
    ) {
      this.ctx.waitUntil(this.flush());
    } else {
      await this.#rearm();
    }
  }

  /** Validators that attested receipts after they were charged (answers that came late). */
  async attested(entries: { requestId: string; urls: string[] }[]): Promise<void> {
    this.#store.addAttesters(entries, Date.now());
  }

  override async alarm(): Promise<void> {
    await this.flush();
  }

  /** Settles what is pending now. */
  async flush(): Promise<void> {
    this.#flushing ??= this.#flushOnce().finally(() => {
      this.#flushing = undefined;
    });
    await this.#flushing;
    await this.#rearm();
  }

  /** Whatever is still pending after an attempt gets an alarm: soon when a full batch waits. */
  async #rearm(): Promise<void> {
    const n = this.#store.pendingCount();
    if (n === 0 && this.#store.openBatches().length === 0 && this.#store.unnotifiedReleases().size === 0)
      return;
    const config = configOf(this.env);
    const due = Date.now() + (n >= config.SETTLE_EVERY ? MIN_FLUSH_GAP_MS : config.SETTLE_INTERVAL_MS);
    const alarm = await this.ctx.storage.getAlarm();
    if (alarm === null || alarm > due) await this.ctx.storage.setAlarm(due);
  }

  async status(): Promise<SettlementStatus> {
    const now = Date.now();
    return {
      ...this.#store.figures(now),
      inFlight: this.#store.openBatches().map((b) => ({
        batchId: b.batchId,
        state: b.state,
        requests: b.requests,
        sessions: b.body.sessions.length,
        ageMs: now - b.createdAt,
        attempts: b.attempts,
        signedBy: b.signatures.map((s) => s.validator),
        error: b.error,
      })),
      validators: this.#store.validators().map(({ downSince, checkedAt: _, ...v }) => ({
        ...v,
        downForMs: downSince === null ? null : now - downSince,
      })),
      problems: this.#problems,
    };
  }

  async #flushOnce(): Promise<void> {
    this.#lastFlushAt = Date.now();
    this.#added = 0;
    const config = configOf(this.env);
    const chain = chainOf(config);
    const errors: SettlementProblem[] = [];
    const probes = await probeValidators(config.REGISTRY_URLS);
    for (const p of probes) this.#store.noteProbe(p);
    const available = probes.filter((p) => p.up).map((p) => p.url);

    for (const b of this.#store.openBatches()) {
      const problem = await this.#advance(b, available, config, chain).catch((e: unknown) =>
        caught(e, b.batchId),
      );
      if (problem) errors.push(problem);
    }
    try {
      await this.#releaseAndPlan(available, config, chain, errors);
    } catch (e) {
      errors.push(caught(e));
    }
    await this.#notifyReleases().catch((e: unknown) => errors.push(caught(e)));
    this.#store.pruneLateAttesters(Date.now() - LATE_ATTESTERS_TTL_MS);
    if (available.length < config.VALIDATION_THRESHOLD) {
      errors.unshift({
        code: "QUORUM_MISSING",
        message: `only ${available.length} of ${config.VALIDATION_THRESHOLD} validators needed answer (missing: ${probes
          .filter((p) => !p.up)
          .map((p) => `${p.url}: ${p.error}`)
          .join("; ")})`,
      });
    }
    this.#problems = errors;
    if (errors.length > 0) log.warn("settlement incomplete; will retry", { problems: errors });
  }

  /** Releases charges that can never settle, then plans and sends new batches for the rest. */
  async #releaseAndPlan(
    available: string[],
    config: Config,
    chain: ChainPort,
    errors: SettlementProblem[],
  ): Promise<void> {
    const busy = this.#store.busySessions();
    const free = this.#store.freeCharges();
    if (free.length === 0) return;
    const vouchers = new Map<string, SessionVouchers>();
    const standing = new Map<string, { settled: bigint; amounts: ReadonlySet<bigint>; closed: boolean }>();
    const salts: Record<string, `0x${string}`> = {};
    for (const sessionId of new Set(free.map((c) => c.sessionId))) {
      if (busy.has(sessionId)) continue;
      const onChain = await chain.readSession(sessionId);
      if (!onChain || onChain.closed) {
        standing.set(sessionId, { settled: onChain?.settled ?? 0n, amounts: new Set(), closed: true });
        continue;
      }
      const salt = await chain.sessionSalt(sessionId);
      const snap = await this.env.SESSION.get(this.env.SESSION.idFromName(sessionId)).snapshot();
      if (!salt || !snap) continue;
      salts[sessionId] = salt;
      const bad = this.#store.badVouchers(sessionId);
      const usable = snap.vouchers
        .map((v) => ({ amount: BigInt(v.amount), signature: v.signature }))
        .filter((v) => v.amount > onChain.settled && !bad.has(v.amount));
      vouchers.set(sessionId, { settled: onChain.settled, vouchers: usable });
      standing.set(sessionId, {
        settled: onChain.settled,
        amounts: new Set(usable.map((v) => v.amount)),
        closed: false,
      });
    }
    const now = Date.now();
    const releases = chargesToRelease({
      charges: free,
      validators: config.REGISTRY_URLS,
      threshold: config.VALIDATION_THRESHOLD,
      downSince: new Map(this.#store.validators().map((v) => [v.url, v.downSince])),
      now,
      releaseAfterMs: config.SETTLE_RELEASE_AFTER_MS,
      sessions: standing,
      lastReleaseAt: this.#store.lastReleaseAt(),
    });
    if (releases.length > 0) {
      this.#store.saveReleases(releases, now);
      log.warn("charges released unsettled: the clients are not charged for them", {
        requests: releases.length,
        reasons: [...new Set(releases.map((r) => `${r.reason}: ${r.detail}`))],
      });
    }
    const gone = new Set(releases.map((r) => r.charge.requestId));
    const plannable = free.filter((c) => !gone.has(c.requestId) && !busy.has(c.sessionId));
    const drafts = planBatches(withStaleAttestersUnknown(plannable, now), vouchers, {
      available,
      threshold: config.VALIDATION_THRESHOLD,
      maxReceipts: MAX_BATCH,
      maxBatches: MAX_NEW_BATCHES,
    });
    const planned = new Set(drafts.flatMap((d) => d.charges.map((c) => c.requestId)));
    const waiting = plannable.filter((c) => !planned.has(c.requestId));
    if (waiting.length > 0)
      errors.push({
        code: "CHARGES_WAITING",
        message: describeWaiting(waiting, available, config.VALIDATION_THRESHOLD),
      });
    for (const d of drafts) {
      const digests = d.charges.map((c) => c.receiptDigest);
      const batch = this.#store.saveBatch(
        {
          charges: d.charges,
          total: d.total,
          body: {
            receiptsRoot: merkleBatch(digests).root,
            receiptDigests: digests,
            sessions: d.sessions,
            payouts: d.payouts,
            salts: Object.fromEntries(
              d.sessions.map((s) => [s.sessionId, salts[s.sessionId] as `0x${string}`]),
            ),
          },
        },
        Date.now(),
      );
      const problem = await this.#advance(batch, available, config, chain).catch((e: unknown) =>
        caught(e, batch.batchId),
      );
      if (problem) errors.push(problem);
    }
  }

  /**
   * Takes one persisted batch a step further: what the chain says first (settled or abandoned
   * ends it), then signatures, then the transaction. Returns what went wrong, if anything.
   */
  async #advance(
    batch: StoredBatch,
    available: readonly string[],
    config: Config,
    chain: ChainPort,
  ): Promise<SettlementProblem | undefined> {
    const status = await chain.batchStatus(batch.batchId);
    if (status === "settled") return this.#settled(batch, null);
    if (status === "abandoned") return this.#abandoned(batch);
    if (batch.state === "abandoning") return await this.#abandon(batch, chain);
    let b = batch;
    if (b.state === "signing") {
      const problem = await this.#gather(b, available, config, chain);
      const after = this.#store.batch(b.batchId);
      if (after?.state === "abandoning") return (await this.#abandon(after, chain)) ?? problem;
      if (after?.state !== "signed") return problem;
      b = after;
    }
    try {
      const tx = await chain.settleBatch({
        batchId: b.batchId,
        receiptsRoot: b.body.receiptsRoot,
        vouchers: b.body.sessions.map((s) => ({
          sessionId: s.sessionId,
          salt: b.body.salts[s.sessionId] as `0x${string}`,
          cumulativeAmount: BigInt(s.voucherAmount),
          signature: s.voucherSignature,
        })),
        payouts: b.body.payouts.map((p) => ({ node: p.node, amount: BigInt(p.amount) })),
        validatorSignatures: b.signatures.map((s) => s.signature),
      });
      return this.#settled(b, tx);
    } catch (e) {
      // The transaction may have landed even though its receipt never came back.
      const after = await chain.batchStatus(b.batchId).catch(() => "open" as const);
      if (after === "settled") return this.#settled(b, null);
      if (after === "abandoned") return this.#abandoned(b);
      const problem = caught(e, b.batchId);
      if (e instanceof ChainRevertedError) {
        // The contract refuses it as it is: give the id up, then plan the charges again.
        this.#store.updateBatch(
          b.batchId,
          { state: "abandoning", error: problem, attempt: true },
          Date.now(),
        );
        return (await this.#abandon(b, chain)) ?? problem;
      }
      this.#store.updateBatch(b.batchId, { error: problem, attempt: true }, Date.now());
      return problem;
    }
  }

  /** Asks the validators that have not signed yet; records what their answers teach. */
  async #gather(
    b: StoredBatch,
    available: readonly string[],
    config: Config,
    chain: ChainPort,
  ): Promise<SettlementProblem | undefined> {
    const asked = config.REGISTRY_URLS.filter(
      (u) => available.includes(u) && !b.signatures.some((s) => s.url === u),
    );
    const answers = await askSettlementSignatures(asked, {
      batchId: b.batchId,
      gateway: chain.gateway,
      receiptsRoot: b.body.receiptsRoot,
      receiptDigests: b.body.receiptDigests,
      sessions: b.body.sessions,
      payouts: b.body.payouts,
    });
    const now = Date.now();
    for (const a of answers) this.#noteAnswer(a, b.batchId, now);
    const verdict = judgeAnswers(answers, b.signatures, {
      threshold: config.VALIDATION_THRESHOLD,
      validators: config.REGISTRY_URLS,
      available: new Set(available),
    });
    if (verdict.next === "settle") {
      this.#store.updateBatch(
        b.batchId,
        { state: "signed", signatures: verdict.signatures, error: null },
        now,
      );
      return undefined;
    }
    for (const m of verdict.missing) {
      const digest = b.body.receiptDigests[m.index];
      if (digest) this.#store.refuse(m.url, [digest]);
    }
    for (const s of verdict.sessions) {
      const session = b.body.sessions[s.index];
      if (session && s.voucher) this.#store.badVoucher(session.sessionId, session.voucherAmount, s.reason);
    }
    // Refused without a receipt or a voucher to blame: its charges go in smaller batches.
    if (verdict.whole.length > 0 || verdict.sessions.some((s) => !s.voucher)) this.#store.strike(b.batchId);
    const problem: SettlementProblem = {
      code: "SIGNATURES_MISSING",
      message: `batch ${short(b.batchId)} (${b.requests} receipts): ${verdict.signatures.length} of ${
        config.VALIDATION_THRESHOLD
      } signatures${describeAnswers(answers, config.REGISTRY_URLS, available)}`,
      batchId: b.batchId,
    };
    const giveUp = verdict.next === "abandon" || b.attempts + 1 >= MAX_SIGNING_ROUNDS;
    this.#store.updateBatch(
      b.batchId,
      {
        ...(giveUp ? { state: "abandoning" as const } : {}),
        signatures: verdict.signatures,
        error: problem,
        attempt: true,
      },
      now,
    );
    return problem;
  }

  #noteAnswer(a: SettlementAnswer, batchId: string, at: number): void {
    if (a.kind === "signed") this.#store.noteSigner(a.url, a.validator);
    else
      this.#store.noteRefusal(a.url, {
        code: a.kind === "refused" ? a.code : "VALIDATOR_UNAVAILABLE",
        reason: a.kind === "refused" ? safeToken(a.reason) : safeToken(a.message),
        field: a.kind === "refused" ? safeToken(a.field) : null,
        batchId,
        at,
      });
  }

  /** Spends the batch id on chain so that it can never land, then frees its charges. */
  async #abandon(b: StoredBatch, chain: ChainPort): Promise<SettlementProblem | undefined> {
    let failure: SettlementProblem | undefined;
    try {
      await chain.abandonBatch(b.batchId);
    } catch (e) {
      failure = caught(e, b.batchId); // spent meanwhile (settled, say): the status below tells
    }
    const status = await chain.batchStatus(b.batchId);
    if (status === "abandoned") return this.#abandoned(b);
    if (status === "settled") return this.#settled(b, null);
    const problem: SettlementProblem = {
      code: "ABANDON_PENDING",
      message: `batch ${short(b.batchId)}: abandoning it failed (${failure?.code ?? "the id is still open"})`,
      batchId: b.batchId,
    };
    this.#store.updateBatch(b.batchId, { error: problem, attempt: true }, Date.now());
    return problem;
  }

  #settled(b: StoredBatch, tx: string | null): undefined {
    this.#store.settleBatch(b.batchId, tx, Date.now());
    log.info("batch settled", { batchId: b.batchId, requests: b.requests, tx });
    for (const s of b.body.sessions) {
      // Only prunes vouchers the settlement made useless: the session reads the chain anyway.
      this.ctx.waitUntil(
        this.env.SESSION.get(this.env.SESSION.idFromName(s.sessionId))
          .settled(s.voucherAmount)
          .catch(() => undefined),
      );
    }
    return undefined;
  }

  #abandoned(b: StoredBatch): undefined {
    this.#store.abandonBatch(b.batchId, Date.now());
    log.warn("batch abandoned; its charges are planned again", { batchId: b.batchId, requests: b.requests });
    return undefined;
  }

  /** Tells each Session object which of its charges were released, until it has heard. */
  async #notifyReleases(): Promise<void> {
    for (const [sessionId, list] of this.#store.unnotifiedReleases()) {
      const session = this.env.SESSION.get(this.env.SESSION.idFromName(sessionId));
      for (let i = 0; i < list.length; i += RELEASE_CHUNK) {
        const chunk = list.slice(i, i + RELEASE_CHUNK);
        unwrap(await session.releaseCharges(sessionId as `0x${string}`, chunk));
        this.#store.markNotified(chunk.map((c) => c.requestId));
      }
    }
  }
}

/** Who refused a batch and why, and who could not be asked, for people reading the status. */
function describeAnswers(
  answers: readonly SettlementAnswer[],
  all: readonly string[],
  available: readonly string[],
): string {
  const parts: string[] = [];
  for (const a of answers) {
    // Codes and plain tokens only: a validator's own text is not repeated on a public route.
    if (a.kind === "refused") {
      const reason = safeToken(a.reason);
      const field = safeToken(a.field);
      parts.push(`${a.url} refused: ${a.code}${reason ? ` ${reason}` : ""}${field ? ` at ${field}` : ""}`);
    } else if (a.kind === "unavailable") parts.push(`${a.url} ${safeToken(a.message) ?? "unreachable"}`);
  }
  const down = all.filter((u) => !available.includes(u));
  if (down.length > 0) parts.push(`not answering: ${down.join(", ")}`);
  return parts.length > 0 ? `; ${parts.join("; ")}` : "";
}

function short(batchId: string): string {
  return `#${BigInt(batchId).toString()}`;
}

/** A failure caught while settling: its details to the log, its code and fixed text to the status. */
function caught(e: unknown, batchId?: string): SettlementProblem {
  const problem = settlementProblemOf(e, batchId);
  log.warn("settlement step failed", {
    ...(batchId === undefined ? {} : { batchId }),
    code: problem.code,
    error: e instanceof Error ? e.message : String(e),
  });
  return problem;
}

import type { KillKind } from "./chaos-plan.ts";
import { accountedFor, balanced, type SessionStanding } from "./reconcile.ts";

/** Which client API a request went through. */
export type LoadKind = "api" | "stream";

/** One request of the load, as its client saw it (and, for the per-request API, as the gateway ended it). */
export interface RequestRecord {
  kind: LoadKind;
  sessionId: `0x${string}`;
  price: bigint;
  sentAt: number;
  doneAt: number;
  /**
   * `ok`: a result that verified against the validator set on chain; `failed`: a typed error;
   * `unverified`: a result that did not verify; `unknown`: no answer the client could act on.
   */
  outcome: "ok" | "failed" | "unverified" | "unknown";
  /** The error code of a failed request. */
  code?: string;
  /** Its message, as the client got it. */
  message?: string;
  /** The first answer was a lost connection; the outcome came from reading the request back. */
  recovered: boolean;
  /** Per-request API only: the request's final state read back from the gateway at the end. */
  gatewayState?: string;
}

export interface KillRecord {
  kind: KillKind;
  target: number;
  /** Milliseconds since the load started. */
  at: number;
  downMs: number;
  /** How long starting it again took (until it answered, or for an agent until it was connected). */
  restartMs: number;
  /** From the restart until a request sent after it succeeded, per client API (undefined: none did). */
  recoveryMs: Partial<Record<LoadKind, number>>;
}

export interface Counts {
  requests: number;
  ok: number;
  failed: number;
  lost: number;
  doubleCharged: number;
  chargedForFailed: number;
  /** Delivered (validated) but never charged: the gateway's loss, not the client's. */
  uncharged: number;
  /** Answered by reading the request back after its connection was lost. */
  recovered: number;
}

export interface ChainBalance {
  deposits: bigint;
  payouts: bigint;
  refunds: bigint;
  unspent: bigint;
  /** Settled on chain for these sessions (must equal payouts). */
  settled: bigint;
  /** Change of the payment contract's token balance (must equal deposits - refunds). */
  contractDelta: bigint;
  ok: boolean;
}

export interface ChaosReport {
  seed: number;
  durationMs: number;
  counts: Record<LoadKind | "total", Counts>;
  kills: KillRecord[];
  sessions: (SessionStanding & { kind: LoadKind })[];
  settleMs: number;
  settled: boolean;
  /** What the gateway said was holding settlement up, when it did not finish. */
  settlementProblems: string[];
  chain: ChainBalance | undefined;
  /** Error codes of failed requests, by code. */
  failures: Record<string, number>;
  /** One message the client got for each failure code. */
  failureMessages?: Record<string, string>;
  /** Every goal met: 0 lost, 0 double-charged, 0 charged for failures, sessions and chain balanced. */
  ok: boolean;
}

const TERMINAL = new Set(["returned", "failed", "cancelled", "not_found"]);

function zero(): Counts {
  return {
    requests: 0,
    ok: 0,
    failed: 0,
    lost: 0,
    doubleCharged: 0,
    chargedForFailed: 0,
    uncharged: 0,
    recovered: 0,
  };
}

/**
 * Sorts every request into ok, failed or lost, and finds charges that do not match: a failed
 * request whose read-back state is `returned` was charged for a failure; whatever a session was
 * charged (or released) beyond the requests it returned was charged twice (or for failures, in a
 * stream, whose requests cannot be read back one by one).
 */
export function tallyRequests(
  records: readonly RequestRecord[],
  sessions: readonly (SessionStanding & { kind: LoadKind })[],
): Record<LoadKind | "total", Counts> {
  const counts = { api: zero(), stream: zero(), total: zero() };
  for (const r of records) {
    const c = counts[r.kind];
    c.requests += 1;
    if (r.recovered) c.recovered += 1;
    const gateway = r.gatewayState;
    const settledAtGateway = r.kind === "stream" || (gateway !== undefined && TERMINAL.has(gateway));
    if (r.outcome === "ok" && (r.kind === "stream" || gateway === "returned")) c.ok += 1;
    else if (r.outcome === "failed" && settledAtGateway) {
      c.failed += 1;
      if (gateway === "returned") c.chargedForFailed += 1;
    } else c.lost += 1;
  }
  for (const s of sessions) {
    const c = counts[s.kind];
    const mine = records.filter((r) => r.sessionId === s.sessionId);
    const price = mine[0]?.price ?? 1n;
    // What the gateway may charge: results it returned (API) or delivered (stream).
    const owed = mine
      .filter((r) => (r.kind === "api" ? r.gatewayState === "returned" : r.outcome === "ok"))
      .reduce((sum, r) => sum + r.price, 0n);
    // Released as unacknowledged: results the client says it never got (a batch journaled by
    // a gateway that died before sending it); not owed, and not paid.
    const excess = accountedFor(s) - owed;
    if (excess < 0n) c.uncharged += Number(-excess / price);
    if (excess > 0n) {
      const extra = Number(excess / price);
      const failedInStream = s.kind === "stream" ? mine.filter((r) => r.outcome === "failed").length : 0;
      const forFailed = Math.min(extra, failedInStream);
      c.chargedForFailed += forFailed;
      c.doubleCharged += extra - forFailed;
    }
  }
  for (const kind of ["api", "stream"] as const) {
    for (const key of Object.keys(counts.total) as (keyof Counts)[]) counts.total[key] += counts[kind][key];
  }
  return counts;
}

/** Whether the run met every goal. */
export function runOk(report: Omit<ChaosReport, "ok">): boolean {
  const t = report.counts.total;
  return (
    t.lost === 0 &&
    t.doubleCharged === 0 &&
    t.chargedForFailed === 0 &&
    t.uncharged === 0 &&
    report.settled &&
    report.sessions.every(balanced) &&
    (report.chain?.ok ?? false)
  );
}

const NCN = 10n ** 18n;

function ncn(amount: bigint): string {
  const whole = amount / NCN;
  const frac = (amount % NCN).toString().padStart(18, "0").slice(0, 4);
  return `${whole}.${frac}`;
}

function row(cells: (string | number)[], widths: number[]): string {
  return cells.map((c, i) => String(c).padStart(widths[i] ?? 8)).join("  ");
}

/** The run as a plain-text table: outcomes per client API, each kill's recovery, sessions, chain. */
export function formatChaosReport(r: ChaosReport): string {
  const out: string[] = [];
  const { api, stream, total } = r.counts;
  out.push(
    `chaos run: seed ${r.seed}, ${(r.durationMs / 1000).toFixed(1)} s of load, ${r.kills.length} kills`,
  );
  out.push("");
  const w = [22, 8, 8, 8, 8];
  out.push(row(["", "api", "stream", "total", "goal"], w));
  const lines: [string, keyof Counts, string][] = [
    ["requests", "requests", ""],
    ["ok (verified)", "ok", ""],
    ["failed (typed)", "failed", ""],
    ["lost", "lost", "0"],
    ["double-charged", "doubleCharged", "0"],
    ["charged-for-failed", "chargedForFailed", "0"],
    ["delivered, uncharged", "uncharged", "0"],
    ["read back after a drop", "recovered", ""],
  ];
  for (const [label, key, goal] of lines) out.push(row([label, api[key], stream[key], total[key], goal], w));
  const codes = Object.entries(r.failures).sort((a, b) => b[1] - a[1]);
  if (codes.length > 0) out.push(`failures by code: ${codes.map(([c, n]) => `${c} ${n}`).join(", ")}`);
  for (const [c] of codes) {
    const m = r.failureMessages?.[c];
    if (m) out.push(`  ${c}: ${m}`);
  }
  out.push("");
  const kw = [3, 8, 10, 8, 8, 10, 12, 12];
  out.push(row(["#", "at s", "kill", "down ms", "start ms", "target", "api rec ms", "stream rec ms"], kw));
  r.kills.forEach((k, i) => {
    const target = k.kind === "gateway" ? "workerd" : `${k.kind}-${k.target}`;
    out.push(
      row(
        [
          i + 1,
          (k.at / 1000).toFixed(1),
          k.kind,
          k.downMs,
          k.restartMs,
          target,
          k.recoveryMs.api ?? "none",
          k.recoveryMs.stream ?? "none",
        ],
        kw,
      ),
    );
  });
  out.push("");
  const sw = [8, 12, 14, 14, 14, 14, 14, 9];
  out.push(row(["api", "session", "delivered", "charged", "released", "unacked", "settled", "balanced"], sw));
  for (const s of r.sessions) {
    out.push(
      row(
        [
          s.kind,
          `${s.sessionId.slice(0, 10)}…`,
          ncn(s.delivered),
          ncn(s.charged),
          ncn(s.released),
          ncn(s.unacknowledged),
          ncn(s.settled),
          balanced(s) ? "yes" : "NO",
        ],
        sw,
      ),
    );
  }
  out.push(
    `settlement ${r.settled ? "done" : "NOT done"} ${(r.settleMs / 1000).toFixed(1)} s after the load`,
  );
  for (const p of r.settlementProblems) out.push(`  ${p}`);
  const c = r.chain;
  out.push(
    c
      ? `chain: deposits ${ncn(c.deposits)} = payouts ${ncn(c.payouts)} + refunds ${ncn(c.refunds)} + unspent ${ncn(c.unspent)}; settled ${ncn(c.settled)}; contract balance ${c.contractDelta >= 0n ? "+" : ""}${ncn(c.contractDelta)}: ${c.ok ? "adds up" : "DOES NOT ADD UP"}`
      : "chain: not checked",
  );
  out.push(`seed ${r.seed}: ${r.ok ? "PASS" : "FAIL"}`);
  return out.join("\n");
}

import type { PaymentReader } from "../chain/payment-reader.ts";

/** How long a session's on-chain state and the chain's time are reused between calls. */
export const CHAIN_VIEW_MS = 1_000;
const views = new WeakMap<
  PaymentReader,
  {
    sessions: Map<string, { at: number; state: Awaited<ReturnType<PaymentReader["session"]>> }>;
    now?: { at: number; value: bigint };
  }
>();

/**
 * The session and the chain time, read at most once a second per session: a stream sends a
 * call every few milliseconds, and a busy session's per-request calls come as often; chain
 * reads on each would be most of their latency and of a validator's work.
 * A second's staleness only matters at the edges (a session that expires or is settled
 * within that second): the voucher checks still hold, and settlement re-checks on chain.
 */
export async function chainView(payments: PaymentReader, sessionId: `0x${string}`, ttl: number) {
  const view = viewOf(payments);
  const t = Date.now();
  const cached = view.sessions.get(sessionId);
  const fresh = cached !== undefined && t - cached.at < ttl;
  const [state, now] = await Promise.all([
    fresh ? cached.state : payments.session(sessionId),
    chainTime(payments, ttl),
  ]);
  if (!fresh) {
    if (view.sessions.size > 10_000) view.sessions.clear();
    view.sessions.set(sessionId, { at: t, state });
  }
  /** The third element: whether the session's state came from the cache. */
  return [state, now, fresh] as const;
}

/**
 * The chain's time (unix seconds), read at most once per `ttl` and counted forward by the
 * local clock in between: expiries are compared with it, so staleness only moves an expiry
 * by a second at most.
 */
export async function chainTime(payments: PaymentReader, ttl: number): Promise<bigint> {
  const view = viewOf(payments);
  const t = Date.now();
  const cached = view.now;
  if (cached && t - cached.at < ttl) return cached.value + BigInt(Math.floor((t - cached.at) / 1000));
  const value = await payments.now();
  view.now = { at: t, value };
  return value;
}

function viewOf(payments: PaymentReader) {
  let view = views.get(payments);
  if (!view) {
    view = { sessions: new Map() };
    views.set(payments, view);
  }
  return view;
}

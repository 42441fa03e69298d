import * as v from "valibot";
import {
  type QuorumView,
  quorumLostError,
  quorumOf,
  type ValidatorProbe,
} from "../logic/validator-quorum.ts";

const HealthBody = v.object({
  validation: v.optional(v.object({ validator: v.nullish(v.string()) })),
});

/** How long a look at the validators stays good for dispatch decisions. */
const MAX_AGE_MS = 1_000;
const PROBE_TIMEOUT_MS = 2_000;
/** How old a look that found a quorum may be and still decide while a new look runs. */
const STALE_OK_MS = 10_000;
/** A validator that attested this recently counts as answering even if its `/health` was slow. */
const ANSWERED_WITHIN_MS = 2_000;

/** Asks one validator's `/health`; any answer other than a 2xx counts as down. */
export async function probeValidator(
  url: string,
  timeoutMs = PROBE_TIMEOUT_MS,
  fetcher: typeof fetch = fetch,
): Promise<ValidatorProbe> {
  const at = Date.now();
  try {
    const res = await fetcher(`${url.replace(/\/$/, "")}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const json: unknown = await res.json().catch(() => undefined);
    if (!res.ok) return { url, up: false, validator: null, error: `HTTP ${res.status}`, at };
    const body = v.safeParse(HealthBody, json);
    const validator = body.success ? (body.output.validation?.validator ?? null) : null;
    return { url, up: true, validator: validator?.toLowerCase() ?? null, error: null, at };
  } catch (e) {
    return { url, up: false, validator: null, error: unreachable(e), at };
  }
}

export function probeValidators(
  urls: readonly string[],
  timeoutMs = PROBE_TIMEOUT_MS,
): Promise<ValidatorProbe[]> {
  return Promise.all(urls.map((u) => probeValidator(u, timeoutMs)));
}

// Per isolate, the last look. Values only, never a promise: a promise made while serving one
// request must not be awaited by another in a Worker.
let last: { key: string; view: QuorumView } | undefined;
const answeredAt = new Map<string, number>();
const failedAt = new Map<string, number>();
/** How long a validator whose call failed is asked after the others. */
const FAILED_LAST_MS = 30_000;

/** A validator just answered a validation call: it is up, whatever a busy `/health` says. */
export function validatorAnswered(url: string): void {
  answeredAt.set(url, Date.now());
  failedAt.delete(url);
}

/**
 * `urls` in the given order, except that validators whose last call failed (within
 * `FAILED_LAST_MS`) come last: a batch asks them only when the others are not enough, and
 * one that hangs does not cost each batch a timeout in turn.
 */
export function failingLast(urls: readonly string[]): string[] {
  const now = Date.now();
  const failing = (u: string) => now - (failedAt.get(u) ?? Number.NEGATIVE_INFINITY) < FAILED_LAST_MS;
  return [...urls.filter((u) => !failing(u)), ...urls.filter(failing)];
}

/** Whether enough validators answer, looked at again when the last look is over a second old. */
export async function validatorQuorum(urls: readonly string[], threshold: number): Promise<QuorumView> {
  const key = `${threshold}|${urls.join(",")}`;
  if (last?.key === key && Date.now() - last.view.at < MAX_AGE_MS) return last.view;
  const now = Date.now();
  const probes = (await probeValidators(urls)).map((p) =>
    p.up || now - (answeredAt.get(p.url) ?? 0) > ANSWERED_WITHIN_MS ? p : { ...p, up: true, error: null },
  );
  const view = quorumOf(probes, threshold);
  last = { key, view };
  return view;
}

/** The last look, without waiting (undefined when none is younger than `maxAgeMs`). */
export function knownQuorum(
  urls: readonly string[],
  threshold: number,
  maxAgeMs = MAX_AGE_MS,
): QuorumView | undefined {
  const key = `${threshold}|${urls.join(",")}`;
  return last?.key === key && Date.now() - last.view.at < maxAgeMs ? last.view : undefined;
}

/** A look up to `STALE_OK_MS` old that found a quorum (undefined otherwise): it may decide while a new look runs. */
function recentQuorum(urls: readonly string[], threshold: number): QuorumView | undefined {
  const view = knownQuorum(urls, threshold, STALE_OK_MS);
  return view?.ok ? view : undefined;
}

/** A validation call could not reach `url`: if it was thought up, look again before the next dispatch. */
export function validatorFailed(url: string): void {
  answeredAt.delete(url);
  failedAt.set(url, Date.now());
  // Counted as missing from now on, in a view as old as the look it came from: a dispatch no
  // longer trusts it (`knownQuorum`), and a quorum it breaks is looked at again before new work.
  if (last?.view.answering.includes(url)) {
    const view = last.view;
    const answering = view.answering.filter((u) => u !== url);
    last = {
      key: last.key,
      view: {
        ...view,
        ok: answering.length >= view.threshold,
        answering,
        missing: [...view.missing, { url, validator: null, error: "unreachable" }],
      },
    };
  }
}

/**
 * Throws the typed 503 while fewer than `threshold` validators answer (nothing is charged).
 * With `waitUntil` (a Worker request's), a look up to `STALE_OK_MS` old that found a quorum
 * decides at once and a fresh look runs in the background: a validator that stops answering
 * without closing its connections makes every probe wait out its timeout, which would
 * otherwise be paid by a request every second. A lost quorum is always looked at again first.
 */
export async function requireValidatorQuorum(
  urls: readonly string[],
  threshold: number,
  waitUntil?: (p: Promise<unknown>) => void,
): Promise<void> {
  if (waitUntil && recentQuorum(urls, threshold)) {
    if (!knownQuorum(urls, threshold)) waitUntil(validatorQuorum(urls, threshold));
    return;
  }
  const view = await validatorQuorum(urls, threshold);
  if (!view.ok) throw quorumLostError(view);
}

/**
 * The same check for a Durable Object, where every caller shares one context: callers
 * arriving while a look is under way wait for that one instead of starting their own.
 */
export class ValidatorQuorumWatch {
  #inflight: Promise<QuorumView> | undefined;

  async require(urls: readonly string[], threshold: number): Promise<void> {
    let view = knownQuorum(urls, threshold);
    if (!view) {
      this.#inflight ??= validatorQuorum(urls, threshold).finally(() => {
        this.#inflight = undefined;
      });
      // A recent look that found a quorum decides while the new one runs (see `requireValidatorQuorum`).
      view = recentQuorum(urls, threshold) ?? (await this.#inflight);
    }
    if (!view.ok) throw quorumLostError(view);
  }
}

/**
 * Why a validator could not be reached, as fixed text: the fetch error's own message may
 * repeat the URL or a proxy's answer, and this text is shown on public routes.
 */
export function unreachable(e: unknown): "timeout" | "unreachable" {
  return e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError")
    ? "timeout"
    : "unreachable";
}

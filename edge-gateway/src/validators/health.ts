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

/** A validator just answered a validation call: it is up, whatever a busy `/health` says. */
export function validatorAnswered(url: string): void {
  answeredAt.set(url, Date.now());
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

/** The last look, without waiting (undefined when none is recent). */
export function knownQuorum(urls: readonly string[], threshold: number): QuorumView | undefined {
  const key = `${threshold}|${urls.join(",")}`;
  return last?.key === key && Date.now() - last.view.at < MAX_AGE_MS ? last.view : undefined;
}

/** A validation call could not reach `url`: if it was thought up, look again before the next dispatch. */
export function validatorFailed(url: string): void {
  answeredAt.delete(url);
  if (last?.view.answering.includes(url)) last = undefined;
}

/** Throws the typed 503 while fewer than `threshold` validators answer (nothing is charged). */
export async function requireValidatorQuorum(urls: readonly string[], threshold: number): Promise<void> {
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
      view = await this.#inflight;
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

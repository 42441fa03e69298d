import { lookup } from "node:dns/promises";
import { ModelSourceError, RuntimeError } from "../errors.ts";
import {
  type AllowedSource,
  checkResolved,
  checkSource,
  type HostTarget,
  MAX_REDIRECTS,
  pinRequest,
  type SourcePolicy,
} from "./source-policy.ts";

/** Resolves a host name to IP addresses (the system resolver unless a test injects one). */
export type Resolver = (name: string) => Promise<string[]>;

export const systemResolver: Resolver = async (name) =>
  (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);

export interface GuardedFetchOptions {
  policy: SourcePolicy;
  /** Which model and which of its sources: what a refusal names. */
  model: string;
  sourceIndex: number;
  resolve?: Resolver;
  fetch?: typeof fetch;
  headers?: Record<string, string>;
  signal?: AbortSignal;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);

async function addressesOf(host: HostTarget, o: GuardedFetchOptions): Promise<string[]> {
  if (host.kind === "ip") return [host.address];
  let resolved: string[];
  try {
    resolved = await (o.resolve ?? systemResolver)(host.name);
  } catch (e) {
    throw new RuntimeError("UNAVAILABLE", `source ${o.sourceIndex + 1}: the host does not resolve`, {
      cause: e,
    });
  }
  const verdict = checkResolved(resolved, o.policy);
  if (!verdict.ok) throw new ModelSourceError("FORBIDDEN", verdict.rule, o);
  if (verdict.addresses.length === 0)
    throw new RuntimeError("UNAVAILABLE", `source ${o.sourceIndex + 1}: the host does not resolve`);
  return verdict.addresses;
}

/** One request to `url`, connected to one of the checked addresses (the next on a connect error). */
async function fetchPinned(url: URL, addresses: string[], o: GuardedFetchOptions): Promise<Response> {
  const doFetch = o.fetch ?? fetch;
  let lastError: unknown;
  for (const address of addresses) {
    const pinned = pinRequest(url, address);
    try {
      return await doFetch(pinned.url, {
        headers: { ...o.headers, ...pinned.headers },
        redirect: "manual",
        ...(pinned.tls ? { tls: pinned.tls } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
      });
    } catch (e) {
      if (o.signal?.aborted) throw e;
      lastError = e;
    }
  }
  throw lastError;
}

/**
 * Fetches an http(s) model source the policy allowed: the host (and every address it
 * resolves to) is checked, the connection goes to a checked address (so a second DNS
 * answer cannot rebind it), and redirects are followed by hand, at most `MAX_REDIRECTS`,
 * each target checked like the first URL. Returns the first non-redirect response.
 *
 * @example const res = await guardedFetch(verdict, { policy, model: "tiny", sourceIndex: 0 });
 */
export async function guardedFetch(
  start: Extract<AllowedSource, { kind: "http" }>,
  o: GuardedFetchOptions,
): Promise<Response> {
  let current = start;
  for (let hop = 0; ; hop++) {
    const res = await fetchPinned(current.url, await addressesOf(current.host, o), o);
    if (!REDIRECTS.has(res.status)) return res;
    await res.body?.cancel().catch(() => {});
    if (hop >= MAX_REDIRECTS) throw new ModelSourceError("FORBIDDEN", "redirects", o);
    const location = res.headers.get("location");
    if (!location || !URL.canParse(location, current.url))
      throw new ModelSourceError("FORBIDDEN", "bad_url", o);
    const next = checkSource(new URL(location, current.url).href, o.policy);
    if (!next.ok) throw new ModelSourceError("FORBIDDEN", next.rule, o);
    // A redirect never leads off the network: no file: or npm: hop.
    if (next.kind !== "http") throw new ModelSourceError("FORBIDDEN", "scheme", o);
    current = next;
  }
}

import { isAbsolute, relative, resolve, sep } from "node:path";
import { fileURLToPath } from "node:url";
import { isPublicAddress, parseIpLiteral } from "./ip-address.ts";

/**
 * What the operator lets the agent fetch. Model sources arrive from the gateway, so each
 * one is checked against this before any byte is read or any connection is made.
 */
export interface SourcePolicy {
  /** Plain `http:` sources (off by default: anyone on the path can swap the bytes' source). */
  allowHttp: boolean;
  /** Loopback, private and link-local hosts: for local development only (devnet, tests). */
  allowPrivateHosts: boolean;
  /** Folders `file:` sources may name (absolute); empty: every `file:` source is refused. */
  localDirs: readonly string[];
}

/** The production default: `https:` to public hosts and `npm:` packages, nothing else. */
export const STRICT_SOURCE_POLICY: SourcePolicy = Object.freeze({
  allowHttp: false,
  allowPrivateHosts: false,
  localDirs: Object.freeze([]),
});

/** At most this many redirects are followed per download, each checked like the first URL. */
export const MAX_REDIRECTS = 5;

/** Why a source was refused; the text is what errors and logs say about it. */
export const SOURCE_RULES = {
  bad_url: "the source is not a well-formed URL",
  scheme: "only https:, npm: (and, when configured, http: and file:) sources are fetched",
  http_off: "plain http: sources are off (--allow-http-sources)",
  file_off: "file: sources are read only from the configured model folders (--model-dir)",
  credentials: "URLs carrying a user name or password are refused",
  private_host: "the host is loopback, private or link-local (--allow-private-sources is off)",
  private_address: "the host resolves to a loopback, private or link-local address",
  redirects: `more than ${MAX_REDIRECTS} redirects`,
  declared_size: "the model declares more bytes than the agent accepts (--max-model-mb)",
  size_exceeded: "the source sent more bytes than the model declares",
} as const;
export type SourceRule = keyof typeof SOURCE_RULES;

/** A source the policy lets through, with what the store needs to fetch it. */
export type AllowedSource =
  | { kind: "http"; url: URL; host: HostTarget }
  | { kind: "npm"; source: string }
  | { kind: "file"; path: string; dir: string };

/** The host of an http(s) URL: an IP literal, or a name to resolve and check. */
export type HostTarget = { kind: "ip"; address: string } | { kind: "name"; name: string };

export type SourceVerdict = ({ ok: true } & AllowedSource) | { ok: false; rule: SourceRule };

const refuse = (rule: SourceRule): SourceVerdict => ({ ok: false, rule });

/** `localhost`, `*.localhost` (RFC 6761) and their trailing-dot spellings. */
function isLocalhostName(name: string): boolean {
  const n = name.toLowerCase().replace(/\.+$/, "");
  return n === "localhost" || n.endsWith(".localhost");
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel !== "" && !rel.startsWith(`..${sep}`) && rel !== ".." && !isAbsolute(rel);
}

function checkFile(source: string, policy: SourcePolicy): SourceVerdict {
  if (policy.localDirs.length === 0) return refuse("file_off");
  let path: string;
  try {
    // Only absolute paths: a relative one would depend on the agent's working folder.
    path = source.startsWith("file://") ? fileURLToPath(source) : decodeURIComponent(source.slice(5));
  } catch {
    return refuse("bad_url");
  }
  if (!isAbsolute(path) || path.includes("\0")) return refuse("file_off");
  const normal = resolve(path);
  const dir = policy.localDirs.map((d) => resolve(d)).find((d) => isInside(d, normal));
  return dir ? { ok: true, kind: "file", path: normal, dir } : refuse("file_off");
}

/**
 * Decides, without touching the disk or the network, whether a model source may be
 * fetched. Host names still have to pass `checkResolved` once resolved.
 *
 * @example checkSource("http://2130706433/m.onnx", { ...STRICT_SOURCE_POLICY, allowHttp: true })
 * // { ok: false, rule: "private_host" }
 */
export function checkSource(source: string, policy: SourcePolicy): SourceVerdict {
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(source)?.[1]?.toLowerCase();
  if (scheme === "npm") return { ok: true, kind: "npm", source };
  if (scheme === "file") return checkFile(source, policy);
  if (scheme !== "http" && scheme !== "https") return refuse(scheme ? "scheme" : "bad_url");
  if (!URL.canParse(source)) return refuse("bad_url");
  const url = new URL(source);
  if (url.protocol === "http:" && !policy.allowHttp) return refuse("http_off");
  if (url.username !== "" || url.password !== "") return refuse("credentials");
  // The URL parser has already folded decimal, hex and octal IPv4 spellings to dotted quads.
  const hostname = url.hostname;
  const literal = parseIpLiteral(hostname);
  if (literal) {
    if (!policy.allowPrivateHosts && !isPublicAddress(hostname)) return refuse("private_host");
    return { ok: true, kind: "http", url, host: { kind: "ip", address: hostname.replace(/^\[|\]$/g, "") } };
  }
  if (!policy.allowPrivateHosts && isLocalhostName(hostname)) return refuse("private_host");
  return { ok: true, kind: "http", url, host: { kind: "name", name: hostname } };
}

/**
 * The addresses a name resolved to that the agent may connect to, in resolver order;
 * refused when any of them is not public (a name that mixes public and private addresses
 * is not a model host). Empty input is left to the caller (the name did not resolve).
 */
export function checkResolved(
  addresses: readonly string[],
  policy: SourcePolicy,
): { ok: true; addresses: string[] } | { ok: false; rule: SourceRule } {
  const parsed = addresses.filter((a) => parseIpLiteral(a) !== null);
  if (!policy.allowPrivateHosts && parsed.some((a) => !isPublicAddress(a)))
    return { ok: false, rule: "private_address" };
  return { ok: true, addresses: parsed };
}

/** What a request pinned to one checked address looks like: URL, Host header, TLS name. */
export interface PinnedRequest {
  url: string;
  headers: { host: string };
  /** For https: the certificate is checked against the name, not the address. */
  tls?: { serverName: string };
}

/**
 * Rewrites a URL to connect to `address` while speaking to `url`'s host, so that the
 * address that was checked is the one connected to (no second lookup to rebind).
 *
 * @example pinRequest(new URL("https://models.example/m.onnx"), "93.184.216.34")
 * // { url: "https://93.184.216.34/m.onnx", headers: { host: "models.example" }, tls: { serverName: "models.example" } }
 */
export function pinRequest(url: URL, address: string): PinnedRequest {
  const pinned = new URL(url);
  pinned.hostname = address.includes(":") ? `[${address}]` : address;
  return {
    url: pinned.href,
    headers: { host: url.host },
    ...(url.protocol === "https:" ? { tls: { serverName: url.hostname } } : {}),
  };
}

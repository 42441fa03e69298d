import { open, rm, stat, writeFile } from "node:fs/promises";
import * as v from "valibot";
import { ModelSourceError, RuntimeError } from "../errors.ts";
import { chunksOf } from "../system/stream.ts";
import { guardedFetch, type Resolver } from "./guarded-fetch.ts";
import type { AllowedSource, SourcePolicy } from "./source-policy.ts";

const PartMeta = v.object({ url: v.string(), validator: v.optional(v.string()) });

export interface DownloadOptions {
  /** The source, as the policy allowed it. */
  source: Extract<AllowedSource, { kind: "http" }>;
  policy: SourcePolicy;
  /** Which model and which of its sources: what errors name (never the URL or a body). */
  model: string;
  sourceIndex: number;
  /** File the bytes accumulate in; kept across failures so the next try resumes. */
  partPath: string;
  expectedSize: number;
  resolve?: Resolver;
  fetch?: typeof fetch;
  signal?: AbortSignal;
  onBytes?: (received: number) => void;
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch {
    return 0;
  }
}

async function readMeta(path: string): Promise<v.InferOutput<typeof PartMeta> | null> {
  try {
    const r = v.safeParse(PartMeta, JSON.parse(await Bun.file(`${path}.json`).text()));
    return r.success ? r.output : null;
  } catch {
    return null;
  }
}

/** Deletes a partial download and its metadata. */
export async function discardPart(partPath: string): Promise<void> {
  await rm(partPath, { force: true });
  await rm(`${partPath}.json`, { force: true });
}

/**
 * Downloads an allowed http(s) source into `partPath`, resuming with a Range request when a partial file
 * from the same URL exists (If-Range guards against the file having changed; a server
 * answering 200 restarts from zero). Stops early when more bytes arrive than the model
 * declares. Throws on network errors, leaving the partial file for the next try.
 */
export async function downloadHttp(o: DownloadOptions): Promise<void> {
  const url = o.source.url.href;
  const name = `source ${o.sourceIndex + 1}`;
  const meta = await readMeta(o.partPath);
  let have = meta?.url === url ? await sizeOf(o.partPath) : 0;
  if (have === 0 || have > o.expectedSize) {
    await discardPart(o.partPath);
    have = 0;
  }
  if (have === o.expectedSize) return;
  const headers: Record<string, string> = {};
  if (have > 0) {
    headers.range = `bytes=${have}-`;
    if (meta?.validator) headers["if-range"] = meta.validator;
  }
  const res = await guardedFetch(o.source, {
    policy: o.policy,
    model: o.model,
    sourceIndex: o.sourceIndex,
    headers,
    ...(o.resolve ? { resolve: o.resolve } : {}),
    ...(o.fetch ? { fetch: o.fetch } : {}),
    ...(o.signal ? { signal: o.signal } : {}),
  });
  // Only the status is reported: an error page's body is the server's, not ours to relay.
  if (res.status !== 200 && res.status !== 206) {
    await res.body?.cancel().catch(() => {});
    const code = res.status === 404 || res.status === 410 ? "MODEL_NOT_FOUND" : "UNAVAILABLE";
    throw new RuntimeError(code, `${name} answered HTTP ${res.status}`);
  }
  let offset = 0;
  if (res.status === 206) {
    const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== have) {
      await res.body?.cancel().catch(() => {});
      throw new RuntimeError("UNAVAILABLE", `${name} resumed at the wrong offset`);
    }
    offset = have;
  }
  const tooMany = () => new ModelSourceError("MODEL_HASH_MISMATCH", "size_exceeded", o);
  const announced = Number(res.headers.get("content-length") ?? Number.NaN);
  if (Number.isFinite(announced) && offset + announced > o.expectedSize) {
    await res.body?.cancel().catch(() => {});
    throw tooMany();
  }
  const validator = res.headers.get("etag") ?? res.headers.get("last-modified") ?? undefined;
  await writeFile(`${o.partPath}.json`, JSON.stringify({ url, ...(validator ? { validator } : {}) }), {
    mode: 0o600,
  });
  const fh = await open(o.partPath, offset === 0 ? "w" : "r+", 0o600);
  let received = offset;
  let overflow = false;
  try {
    if (!res.body) throw new RuntimeError("UNAVAILABLE", `${name} sent no body`);
    for await (const chunk of chunksOf(res.body)) {
      if (received + chunk.byteLength > o.expectedSize) {
        overflow = true;
        break;
      }
      await fh.write(chunk, 0, chunk.byteLength, received);
      received += chunk.byteLength;
      o.onBytes?.(received);
    }
  } finally {
    await fh.close();
  }
  if (overflow) {
    // Cancelled once the loop has released the reader: the connection is dropped, not drained.
    await res.body?.cancel().catch(() => {});
    throw tooMany();
  }
  if (received !== o.expectedSize) throw new RuntimeError("UNAVAILABLE", `${name} ended early`);
}

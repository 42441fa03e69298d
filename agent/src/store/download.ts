import { open, rm, stat } from "node:fs/promises";
import * as v from "valibot";
import { AgentError } from "../errors.ts";
import { chunksOf } from "../system/stream.ts";

const PartMeta = v.object({ url: v.string(), validator: v.optional(v.string()) });

export interface DownloadOptions {
  url: string;
  /** File the bytes accumulate in; kept across failures so the next try resumes. */
  partPath: string;
  expectedSize: number;
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
 * Downloads `url` into `partPath`, resuming with a Range request when a partial file
 * from the same URL exists (If-Range guards against the file having changed; a server
 * answering 200 restarts from zero). Stops early when more bytes arrive than the model
 * declares. Throws on network errors, leaving the partial file for the next try.
 */
export async function downloadHttp(o: DownloadOptions): Promise<void> {
  const doFetch = o.fetch ?? fetch;
  const meta = await readMeta(o.partPath);
  let have = meta?.url === o.url ? await sizeOf(o.partPath) : 0;
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
  const res = await doFetch(o.url, { headers, ...(o.signal ? { signal: o.signal } : {}) });
  if (res.status === 404 || res.status === 410) {
    throw new AgentError("MODEL_NOT_FOUND", `${o.url} answered ${res.status}`);
  }
  if (res.status !== 200 && res.status !== 206) {
    throw new AgentError("UNAVAILABLE", `${o.url} answered ${res.status}`);
  }
  let offset = 0;
  if (res.status === 206) {
    const start = /^bytes (\d+)-/.exec(res.headers.get("content-range") ?? "")?.[1];
    if (Number(start) !== have) throw new AgentError("UNAVAILABLE", `${o.url} resumed at the wrong offset`);
    offset = have;
  }
  const validator = res.headers.get("etag") ?? res.headers.get("last-modified") ?? undefined;
  await Bun.write(`${o.partPath}.json`, JSON.stringify({ url: o.url, ...(validator ? { validator } : {}) }));
  const fh = await open(o.partPath, offset === 0 ? "w" : "r+");
  let received = offset;
  try {
    if (!res.body) throw new AgentError("UNAVAILABLE", `${o.url} sent no body`);
    for await (const chunk of chunksOf(res.body)) {
      if (received + chunk.byteLength > o.expectedSize) {
        await res.body.cancel().catch(() => {});
        throw new AgentError(
          "MODEL_HASH_MISMATCH",
          `${o.url} sent more bytes than the model's declared size`,
          {
            details: { expectedSize: o.expectedSize },
          },
        );
      }
      await fh.write(chunk, 0, chunk.byteLength, received);
      received += chunk.byteLength;
      o.onBytes?.(received);
    }
  } finally {
    await fh.close();
  }
  if (received !== o.expectedSize) {
    throw new AgentError("UNAVAILABLE", `${o.url} ended after ${received} of ${o.expectedSize} bytes`);
  }
}

import { rename, writeFile } from "node:fs/promises";
import * as v from "valibot";

export const CacheEntry = v.object({
  id: v.string(),
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  addedAt: v.number(),
  lastUsedAt: v.number(),
});
export type CacheEntry = v.InferOutput<typeof CacheEntry>;

const CacheIndexFile = v.object({
  version: v.literal(1),
  /** Keyed by the model's sha256 without the 0x prefix (the blob's file name). */
  entries: v.record(v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/)), CacheEntry),
});

/** Reads the cache index; a missing or unreadable index starts empty (blobs are re-adopted). */
export async function readCacheIndex(path: string): Promise<Map<string, CacheEntry>> {
  const file = Bun.file(path);
  if (!(await file.exists())) return new Map();
  try {
    const r = v.safeParse(CacheIndexFile, await file.json());
    return r.success ? new Map(Object.entries(r.output.entries)) : new Map();
  } catch {
    return new Map();
  }
}

/** Writes the index atomically (temp file then rename). */
export async function writeCacheIndex(path: string, entries: Map<string, CacheEntry>): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`;
  await writeFile(tmp, JSON.stringify({ version: 1, entries: Object.fromEntries(entries) }), { mode: 0o600 });
  await rename(tmp, path);
}

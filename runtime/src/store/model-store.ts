import { mkdirSync } from "node:fs";
import { readdir, realpath, rename, rm, stat } from "node:fs/promises";
import { isAbsolute, join, relative, sep } from "node:path";
import type { ModelDescriptor, Sha256 } from "@ncn/protocol";
import { describeError, ModelSourceError, RuntimeError } from "../errors.ts";
import { type Logger, silentLogger } from "../log/logger.ts";
import { chunksOf } from "../system/stream.ts";
import { type CacheEntry, readCacheIndex, writeCacheIndex } from "./cache-index.ts";
import { discardPart, downloadHttp } from "./download.ts";
import type { Resolver } from "./guarded-fetch.ts";
import { resolveNpmSource } from "./npm-source.ts";
import type { ProgressListener } from "./progress.ts";
import { type AllowedSource, checkSource, type SourcePolicy, STRICT_SOURCE_POLICY } from "./source-policy.ts";

/** Default cap on a model's declared size: larger models are refused before any download. */
export const DEFAULT_MAX_MODEL_BYTES = 4 * 1024 ** 3;

export interface ModelStoreOptions {
  /** Folder of the cache: `blobs/<sha256>`, `partial/`, `index.json`. */
  dir: string;
  /** Size budget; least recently used models are evicted beyond it. */
  maxBytes: number;
  /** Models unused for longer than this are evicted. */
  ttlMs: number;
  /** Which sources may be fetched (default: `https:` to public hosts and `npm:`). */
  sources?: SourcePolicy;
  /** Largest declared model size accepted (default `DEFAULT_MAX_MODEL_BYTES`). */
  maxModelBytes?: number;
  log?: Logger;
  onProgress?: ProgressListener;
  fetch?: typeof fetch;
  /** Host name resolver (default: the system's); every address it returns is checked. */
  resolve?: Resolver;
  now?: () => number;
  /** Tries per HTTP source before moving to the next one (each try resumes). */
  attemptsPerSource?: number;
  /** Extra folders to look for `npm:` packages from. */
  npmSearchFrom?: string[];
}

export interface CachedModel extends CacheEntry {
  sha256: Sha256;
}

export interface EnsureOptions {
  signal?: AbortSignal;
}

type ModelRef = Pick<ModelDescriptor, "id" | "sha256" | "size" | "sources">;

function hexOf(sha: string): string {
  return sha.toLowerCase().replace(/^0x/, "");
}

async function sha256File(path: string): Promise<string> {
  const h = new Bun.CryptoHasher("sha256");
  for await (const chunk of chunksOf(Bun.file(path).stream())) h.update(chunk);
  return h.digest("hex");
}

/**
 * Content-addressed model cache. A model is stored under its sha256 only after its
 * bytes hashed to it; sources are tried in order, each first checked against the source
 * policy (`https:` to public hosts and `npm:` by default; `http:`, private hosts and
 * `file:` in configured folders only when the operator allows them) and the declared
 * size against its cap; unused models expire after a TTL and the least recently used go
 * first when the cache outgrows its budget.
 *
 * @example
 * const store = await ModelStore.open({ dir, maxBytes: 2 ** 30, ttlMs: 7 * 86_400_000 });
 * const bytes = await store.load(descriptor);
 */
export class ModelStore {
  readonly dir: string;
  readonly #o: ModelStoreOptions;
  readonly #log: Logger;
  readonly #entries: Map<string, CacheEntry>;
  readonly #inflight = new Map<string, Promise<string>>();
  readonly #pins = new Map<string, number>();
  #saveTimer: ReturnType<typeof setTimeout> | undefined;
  /** The index write in progress (writes are chained). */
  #saving: Promise<void> = Promise.resolve();

  private constructor(options: ModelStoreOptions, entries: Map<string, CacheEntry>) {
    this.dir = options.dir;
    this.#o = options;
    this.#log = (options.log ?? silentLogger).child({ component: "runtime:store" });
    this.#entries = entries;
  }

  static async open(options: ModelStoreOptions): Promise<ModelStore> {
    for (const sub of ["blobs", "partial"])
      mkdirSync(join(options.dir, sub), { recursive: true, mode: 0o700 });
    const entries = await readCacheIndex(join(options.dir, "index.json"));
    const store = new ModelStore(options, entries);
    await store.#reconcile();
    return store;
  }

  #now(): number {
    return this.#o.now?.() ?? Date.now();
  }

  /** Path of a cached model's bytes (whether or not it is present). */
  pathOf(sha256: string): string {
    return join(this.dir, "blobs", hexOf(sha256));
  }

  has(sha256: string): boolean {
    return this.#entries.has(hexOf(sha256));
  }

  list(): CachedModel[] {
    return [...this.#entries].map(([hex, e]) => ({ sha256: `0x${hex}` as Sha256, ...e }));
  }

  /** Cached models, most recently used first, at most `limit` of them. */
  cachedHashes(limit = Number.POSITIVE_INFINITY): Sha256[] {
    return [...this.#entries.entries()]
      .sort((a, b) => b[1].lastUsedAt - a[1].lastUsedAt)
      .slice(0, limit)
      .map(([hex]) => `0x${hex}` as Sha256);
  }

  usedBytes(): number {
    let n = 0;
    for (const e of this.#entries.values()) n += e.size;
    return n;
  }

  get maxBytes(): number {
    return this.#o.maxBytes;
  }

  /** Keeps a model from eviction until the returned function is called. */
  pin(sha256: string): () => void {
    const hex = hexOf(sha256);
    this.#pins.set(hex, (this.#pins.get(hex) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const n = (this.#pins.get(hex) ?? 1) - 1;
      if (n <= 0) this.#pins.delete(hex);
      else this.#pins.set(hex, n);
    };
  }

  /** Makes sure the model is in the cache (fetching it if needed) and returns its path. */
  async ensure(model: ModelRef, options: EnsureOptions = {}): Promise<string> {
    const hex = hexOf(model.sha256);
    const entry = this.#entries.get(hex);
    if (entry) {
      entry.lastUsedAt = this.#now();
      this.#scheduleSave();
      return this.pathOf(hex);
    }
    let pending = this.#inflight.get(hex);
    if (!pending) {
      const unpin = this.pin(hex);
      pending = this.#fetch(model, options).finally(() => {
        unpin();
        this.#inflight.delete(hex);
      });
      this.#inflight.set(hex, pending);
    }
    return pending;
  }

  /**
   * Returns the model's bytes, verified against its sha256 right before use; a blob
   * that changed on disk is deleted and refused.
   */
  async load(model: ModelRef, options: EnsureOptions = {}): Promise<Uint8Array> {
    const path = await this.ensure(model, options);
    const bytes = await Bun.file(path).bytes();
    const h = new Bun.CryptoHasher("sha256");
    h.update(bytes);
    const actual = h.digest("hex");
    if (actual !== hexOf(model.sha256)) {
      await this.remove(model.sha256);
      this.#log.warn("cached model changed on disk", { model: model.id, sha256: model.sha256 });
      throw new RuntimeError(
        "MODEL_HASH_MISMATCH",
        `cached bytes of model ${model.id} no longer match its sha256`,
        { details: { model: model.id } },
      );
    }
    return bytes;
  }

  async #fetch(model: ModelRef, options: EnsureOptions): Promise<string> {
    const hex = hexOf(model.sha256);
    const part = join(this.dir, "partial", hex);
    const maxModelBytes = this.#o.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES;
    if (model.size > maxModelBytes) {
      this.#log.warn("model refused", {
        model: model.id,
        rule: "declared_size",
        size: model.size,
        maxModelBytes,
      });
      throw new ModelSourceError("PAYLOAD_TOO_LARGE", "declared_size", { model: model.id });
    }
    const errors: RuntimeError[] = [];
    for (const [index, source] of model.sources.entries()) {
      if (options.signal?.aborted)
        throw new RuntimeError("CANCELLED", `fetching model ${model.id} was cancelled`);
      try {
        const verdict = checkSource(source, this.#o.sources ?? STRICT_SOURCE_POLICY);
        if (!verdict.ok)
          throw new ModelSourceError("FORBIDDEN", verdict.rule, { model: model.id, sourceIndex: index });
        await this.#fetchSource(model, verdict, index, part, options);
        const actual = await sha256File(part);
        if (actual !== hex) {
          await discardPart(part);
          this.#log.warn("model bytes do not match", { model: model.id, source, actual: `0x${actual}` });
          throw new RuntimeError(
            "MODEL_HASH_MISMATCH",
            `source ${index + 1} does not match the model's sha256`,
            {
              details: { model: model.id, source: index + 1 },
            },
          );
        }
        await rename(part, this.pathOf(hex));
        await rm(`${part}.json`, { force: true });
        const now = this.#now();
        this.#entries.set(hex, { id: model.id, size: model.size, addedAt: now, lastUsedAt: now });
        this.#log.info("model cached", { model: model.id, sha256: model.sha256, source, size: model.size });
        await this.evict();
        await this.#save();
        return this.pathOf(hex);
      } catch (e) {
        const err = e instanceof RuntimeError ? e : unreachable(index, e);
        if (err.code === "CANCELLED") throw err;
        if (err.code === "MODEL_HASH_MISMATCH") await discardPart(part);
        // The local log may name the source; what goes back to the gateway does not.
        this.#log.warn("model source failed", {
          model: model.id,
          source,
          code: err.code,
          error: err.message,
          ...(e === err ? {} : { cause: describeError(e).message }),
        });
        errors.push(err);
      }
    }
    // A hash mismatch is the most telling failure: report it over "unreachable".
    const worst =
      errors.find((e) => e.code === "MODEL_HASH_MISMATCH") ??
      errors.find((e) => e.code !== "MODEL_NOT_FOUND") ??
      errors[0];
    throw new RuntimeError(
      worst?.code ?? "MODEL_NOT_FOUND",
      `model ${model.id} could not be fetched: ${errors.map((e) => e.shortMessage).join("; ") || "no source"}`,
      {
        details: {
          model: model.id,
          errors: errors.map((e) => ({
            code: e.code,
            message: e.shortMessage,
            ...(e instanceof ModelSourceError ? { rule: e.rule } : {}),
          })),
        },
        cause: worst,
      },
    );
  }

  async #fetchSource(
    model: ModelRef,
    allowed: AllowedSource,
    index: number,
    part: string,
    options: EnsureOptions,
  ): Promise<void> {
    const report = (received: number, done: boolean) =>
      this.#o.onProgress?.({
        model: model.id,
        source: model.sources[index] ?? "",
        received,
        total: model.size,
        done,
      });
    if (allowed.kind === "http") {
      const attempts = this.#o.attemptsPerSource ?? 3;
      for (let attempt = 1; ; attempt++) {
        try {
          await downloadHttp({
            source: allowed,
            policy: this.#o.sources ?? STRICT_SOURCE_POLICY,
            model: model.id,
            sourceIndex: index,
            partPath: part,
            expectedSize: model.size,
            ...(this.#o.resolve ? { resolve: this.#o.resolve } : {}),
            ...(this.#o.fetch ? { fetch: this.#o.fetch } : {}),
            ...(options.signal ? { signal: options.signal } : {}),
            onBytes: (n) => report(n, false),
          });
          report(model.size, true);
          return;
        } catch (e) {
          if (options.signal?.aborted)
            throw new RuntimeError("CANCELLED", `download of ${model.id} was cancelled`);
          const err = e instanceof RuntimeError ? e : unreachable(index, e);
          // Only a connection that broke is worth another try; refusals and answers are final.
          if (err.code !== "UNAVAILABLE" || attempt >= attempts) throw err;
          this.#log.warn("download interrupted, resuming", {
            model: model.id,
            source: model.sources[index],
            attempt,
            error: (e as Error).message,
          });
          await Bun.sleep(Math.min(2000, 100 * 2 ** attempt));
        }
      }
    }
    const path =
      allowed.kind === "npm"
        ? resolveNpmSource(allowed.source, this.#o.npmSearchFrom)
        : await localFile(allowed);
    const file = path ? Bun.file(path) : null;
    if (!file || !(await file.exists()))
      throw new RuntimeError(
        "MODEL_NOT_FOUND",
        `source ${index + 1} ${allowed.kind === "npm" ? "is not installed" : "does not exist"}`,
      );
    if (file.size !== model.size)
      throw new RuntimeError(
        "MODEL_HASH_MISMATCH",
        `source ${index + 1} does not have the model's declared size`,
      );
    await discardPart(part);
    await Bun.write(part, file, { mode: 0o600 });
    report(model.size, true);
  }

  /**
   * Drops models unused for longer than the TTL, then the least recently used until
   * the cache fits its budget. Pinned models (in use or being fetched) stay.
   */
  async evict(): Promise<Sha256[]> {
    const now = this.#now();
    const removed: Sha256[] = [];
    const evictable = () =>
      [...this.#entries]
        .filter(([hex]) => !this.#pins.has(hex))
        .sort((a, b) => a[1].lastUsedAt - b[1].lastUsedAt);
    for (const [hex, e] of evictable()) {
      if (now - e.lastUsedAt > this.#o.ttlMs) {
        await this.#drop(hex, "ttl");
        removed.push(`0x${hex}` as Sha256);
      }
    }
    for (const [hex] of evictable()) {
      if (this.usedBytes() <= this.#o.maxBytes) break;
      await this.#drop(hex, "size");
      removed.push(`0x${hex}` as Sha256);
    }
    await this.#sweepPartials(now);
    if (removed.length > 0) await this.#save();
    return removed;
  }

  async remove(sha256: string): Promise<void> {
    await this.#drop(hexOf(sha256), "removed");
    await this.#save();
  }

  async #drop(hex: string, why: string): Promise<void> {
    const e = this.#entries.get(hex);
    this.#entries.delete(hex);
    await rm(this.pathOf(hex), { force: true });
    this.#log.info("model evicted", { sha256: `0x${hex}`, model: e?.id, reason: why });
  }

  async #sweepPartials(now: number): Promise<void> {
    const dir = join(this.dir, "partial");
    for (const name of await readdir(dir)) {
      const hex = name.replace(/\.json$/, "");
      if (this.#inflight.has(hex)) continue;
      const st = await stat(join(dir, name)).catch(() => null);
      if (st && now - st.mtimeMs > this.#o.ttlMs) await rm(join(dir, name), { force: true });
    }
  }

  /** Adopts blobs the index does not know and forgets entries whose blob is gone. */
  async #reconcile(): Promise<void> {
    const blobs = new Set<string>();
    for (const name of await readdir(join(this.dir, "blobs"))) {
      if (/^[0-9a-f]{64}$/.test(name)) blobs.add(name);
      else await rm(join(this.dir, "blobs", name), { force: true });
    }
    let changed = false;
    for (const hex of [...this.#entries.keys()]) {
      if (!blobs.has(hex)) {
        this.#entries.delete(hex);
        changed = true;
      }
    }
    for (const hex of blobs) {
      if (this.#entries.has(hex)) continue;
      const st = await stat(this.pathOf(hex));
      this.#entries.set(hex, { id: "unknown", size: st.size, addedAt: st.mtimeMs, lastUsedAt: st.mtimeMs });
      changed = true;
    }
    if (changed) await this.#save();
  }

  #scheduleSave(): void {
    if (this.#saveTimer) return;
    this.#saveTimer = setTimeout(() => {
      this.#saveTimer = undefined;
      void this.#save().catch((e: unknown) => this.#log.warn("cannot write cache index", { error: e }));
    }, 1000);
    this.#saveTimer.unref?.();
  }

  /**
   * Writes the index, one write at a time: two at once would share the temporary file and
   * the second rename would find it gone (a scheduled save racing `close`).
   */
  #save(): Promise<void> {
    const write = this.#saving.then(() => writeCacheIndex(join(this.dir, "index.json"), this.#entries));
    this.#saving = write.catch(() => {});
    return write;
  }

  /** Writes pending index changes. */
  async close(): Promise<void> {
    if (this.#saveTimer) {
      clearTimeout(this.#saveTimer);
      this.#saveTimer = undefined;
    }
    await this.#save();
  }
}

/** A source that failed with a bare runtime error: named by its place, never by its URL. */
function unreachable(index: number, e: unknown): RuntimeError {
  const code = (e as { code?: unknown } | null)?.code;
  const why = typeof code === "string" && /^[A-Za-z_]{1,40}$/.test(code) ? ` (${code})` : "";
  return new RuntimeError("UNAVAILABLE", `source ${index + 1} is unreachable${why}`, { cause: e });
}

/**
 * The real path of a `file:` source inside its configured folder, or null when it is
 * missing or a symbolic link leads out of the folder.
 */
async function localFile(allowed: Extract<AllowedSource, { kind: "file" }>): Promise<string | null> {
  try {
    const [dir, path] = await Promise.all([realpath(allowed.dir), realpath(allowed.path)]);
    const rel = relative(dir, path);
    return rel === "" || rel === ".." || rel.startsWith(`..${sep}`) || isAbsolute(rel) ? null : path;
  } catch {
    return null;
  }
}

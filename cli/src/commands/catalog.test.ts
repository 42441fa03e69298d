import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { devKey, readNameOwner, startLocalChain } from "@ncn/contracts";
import { EXECUTABLE_RUNTIMES } from "@ncn/runtime";
import { externalDataModelBytes, tinyModelBytes } from "@ncn/runtime/testing";
import { privateKeyToAccount } from "viem/accounts";

const root = mkdtempSync(join(tmpdir(), "ncn-catalog-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A throw-away owner key (anvil's account 9), never funded anywhere that matters.
const KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

async function register(
  file: string,
  registry: string,
  ...extra: string[]
): Promise<{ code: number; out: string }> {
  const proc = Bun.spawn(
    [
      process.execPath,
      join(import.meta.dir, "..", "main.ts"),
      "model",
      "register",
      file,
      "--id=steal",
      `--registry=${registry}`,
      `--key=${KEY}`,
      "--json",
      ...extra,
    ],
    { cwd: root, env: { PATH: process.env.PATH ?? "" }, stdout: "pipe", stderr: "pipe" },
  );
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  return { code, out };
}

test("`model register` refuses a model whose weights name a file (MODEL_REJECTED) and publishes nothing", async () => {
  const published: unknown[] = [];
  const registry = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      // Every model a subnet names is known here (`subnet create` asks first).
      if (req.method === "GET") return Response.json({ key: "model", seq: 1, body: {} });
      published.push(await req.json());
      return Response.json({ ok: true });
    },
  });
  try {
    const url = `http://127.0.0.1:${registry.port}`;
    for (const place of ["initializer", "subgraph"] as const) {
      const file = join(root, `steal-${place}.onnx`);
      writeFileSync(
        file,
        externalDataModelBytes({ location: ".local/share/ncn-agent/agent.key", length: 68, place }),
      );
      const r = await register(file, url);
      expect(r.code).toBe(1);
      expect(JSON.parse(r.out).error.code).toBe("MODEL_REJECTED");
    }
    expect(published).toEqual([]);
    // The same command publishes a self-contained model.
    const tiny = join(root, "tiny.onnx");
    writeFileSync(tiny, tinyModelBytes());
    const ok = await register(tiny, url);
    expect(ok.code).toBe(0);
    expect(published).toHaveLength(1);
  } finally {
    registry.stop(true);
  }
}, 30_000);

test("`model register` offers only the runtimes agents run: --runtime python is refused and nothing is published", async () => {
  const registry = recordingRegistry();
  try {
    const tiny = join(root, "tiny-python.onnx");
    writeFileSync(tiny, tinyModelBytes());
    const r = await register(tiny, registry.url, "--runtime=python");
    expect(r.code).toBe(1);
    const error = JSON.parse(r.out).error;
    expect(error.code).toBe("INVALID_INPUT");
    expect(error.message).toContain(EXECUTABLE_RUNTIMES.join(", "));
    expect(registry.published).toEqual([]);
  } finally {
    registry.stop();
  }
}, 30_000);

/** A registry stand-in that records what it was sent. */
function recordingRegistry() {
  const published: unknown[] = [];
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      // Every model a subnet names is known here (`subnet create` asks first).
      if (req.method === "GET") return Response.json({ key: "model", seq: 1, body: {} });
      published.push(await req.json());
      return Response.json({ ok: true });
    },
  });
  return { published, url: `http://127.0.0.1:${server.port}`, stop: () => server.stop(true) };
}

test("`subnet create` claims the subnet name on chain first; another key gets NAME_TAKEN and publishes nothing", async () => {
  const chain = await startLocalChain({ validators: 1, deploy: { threshold: 1 } });
  const registry = recordingRegistry();
  const owner = devKey("catalog-owner");
  const taker = devKey("catalog-taker");
  try {
    for (const k of [owner, taker]) await chain.fundEther(privateKeyToAccount(k).address);
    const create = async (key: string) => {
      const proc = Bun.spawn(
        [
          process.execPath,
          join(import.meta.dir, "..", "main.ts"),
          "subnet",
          "create",
          "--id=claimed",
          "--name=Claimed",
          "--model=tiny-mlp=100",
          `--registry=${registry.url}`,
          `--rpc-url=${chain.anvil.url}`,
          `--validator-registry=${chain.contracts.registry}`,
          `--key=${key}`,
          "--json",
        ],
        { cwd: root, env: { PATH: process.env.PATH ?? "" }, stdout: "pipe", stderr: "pipe" },
      );
      const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
      return { code, out };
    };
    expect((await create(owner)).code).toBe(0);
    const read = chain.client(owner);
    expect(await readNameOwner(read, chain.contracts, { kind: "subnet", name: "claimed" })).toBe(
      privateKeyToAccount(owner).address.toLowerCase() as `0x${string}`,
    );
    expect(registry.published).toHaveLength(1);
    const taken = await create(taker);
    expect(taken.code).toBe(1);
    expect(JSON.parse(taken.out).error.code).toBe("NAME_TAKEN");
    expect(registry.published).toHaveLength(1);
    // The owner publishes again (an update or a renewal) without a new claim.
    expect((await create(owner)).code).toBe(0);
    expect(registry.published).toHaveLength(2);
  } finally {
    registry.stop();
    await chain.stop();
  }
}, 60_000);

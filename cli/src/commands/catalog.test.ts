import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { externalDataModelBytes, tinyModelBytes } from "@ncn/agent/testing";

const root = mkdtempSync(join(tmpdir(), "ncn-catalog-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// A throw-away owner key (anvil's account 9), never funded anywhere that matters.
const KEY = "0x2a871d0798f97d79848a013d4936a73bf4cc922c825d33c1cf7073dff6d409c6";

async function register(file: string, registry: string): Promise<{ code: number; out: string }> {
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

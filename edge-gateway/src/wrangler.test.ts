import { afterAll, describe, expect, test } from "bun:test";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const ROOT = resolve(import.meta.dirname, "..", "..");
const WRANGLER = join(ROOT, "node_modules", ".bin", "wrangler");
const ENV = { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false", CI: "1" };
const scratch = mkdtempSync(join(tmpdir(), "ncn-wrangler-"));
let dev: ChildProcess | undefined;

afterAll(() => {
  if (dev?.pid) {
    try {
      process.kill(-dev.pid, "SIGKILL");
    } catch {}
  }
  rmSync(scratch, { recursive: true, force: true });
});

function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      s.close(() => res(typeof a === "object" && a ? a.port : 0));
    });
  });
}

describe("wrangler (Node, as operators run it)", () => {
  test("`wrangler deploy --dry-run` bundles the Worker with its Durable Objects and vars", () => {
    const r = spawnSync(
      process.env.NODE ?? "node",
      [WRANGLER, "deploy", "--dry-run", "--outdir", join(scratch, "out")],
      {
        cwd: ROOT,
        env: ENV,
        encoding: "utf8",
        timeout: 120_000,
      },
    );
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status).toBe(0);
    for (const binding of ["SubnetShard", "RequestObject", "SessionObject", "SettlementObject"])
      expect(out).toContain(binding);
    expect(out).toContain("--dry-run: exiting now.");
  }, 150_000);

  test("`wrangler dev` serves the same Worker locally", async () => {
    const port = await freePort();
    dev = spawn(
      process.env.NODE ?? "node",
      [
        WRANGLER,
        "dev",
        "--ip",
        "127.0.0.1",
        "--port",
        String(port),
        "--persist-to",
        join(scratch, "state"),
        "--var",
        `GATEWAY_PRIVATE_KEY:0x${"42".repeat(32)}`,
        "--show-interactive-dev-session=false",
      ],
      { cwd: ROOT, env: ENV, detached: true, stdio: "ignore" },
    );
    const deadline = Date.now() + 90_000;
    let body: unknown;
    while (Date.now() < deadline) {
      try {
        const r = await fetch(`http://127.0.0.1:${port}/health`);
        body = await r.json();
        if (r.status === 200) break;
      } catch {}
      await new Promise((r) => setTimeout(r, 300));
    }
    // No validator runs at the configured URLs: the gateway is up but degraded, naming them.
    expect(body).toMatchObject({ ok: true, status: "degraded", service: "ncn-gateway" });
    const missing = (body as { validators: { missing: { url: string }[] } }).validators.missing;
    expect(missing.map((m) => m.url)).toEqual([
      "http://127.0.0.1:7001",
      "http://127.0.0.1:7002",
      "http://127.0.0.1:7003",
    ]);
    const nf = await fetch(`http://127.0.0.1:${port}/v1/nope`);
    expect(nf.status).toBe(404);
  }, 120_000);
});

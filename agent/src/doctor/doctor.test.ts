import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadConfig } from "../config/config.ts";
import { TestGateway } from "../testing/test-gateway.ts";
import { formatDoctor, runDoctor } from "./doctor.ts";

const dir = mkdtempSync(join(tmpdir(), "ncn-doctor-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const statusOf = (r: Awaited<ReturnType<typeof runDoctor>>, name: string) =>
  r.checks.find((c) => c.name === name)?.status;

describe("doctor", () => {
  test("a machine with working runtimes and no gateway yet can serve", async () => {
    const r = await runDoctor(loadConfig({ dataDir: dir }, {}), { skipSandbox: true });
    expect(r.canServe).toBe(true);
    expect(statusOf(r, "onnx inference")).toBe("ok");
    expect(statusOf(r, "image decoding")).toBe("ok");
    expect(statusOf(r, "built-in models")).toBe("ok");
    expect(statusOf(r, "connectivity")).toBe("info");
    expect(statusOf(r, "model sources")).toBe("ok");
    expect(formatDoctor(r)).toContain("can serve");
  });

  test("says which model sources the agent fetches, and warns when private hosts are allowed", async () => {
    const dev = loadConfig({ dataDir: dir, allowPrivateSources: "true", modelDirs: "/srv/models" }, {});
    const r = await runDoctor(dev, { skipSandbox: true });
    const check = r.checks.find((c) => c.name === "model sources");
    expect(check?.status).toBe("warn");
    expect(check?.detail).toContain("file: in /srv/models");
    expect(check?.detail).toContain("local development only");
  });

  test("reaches a configured gateway, and fails with the reason when it cannot", async () => {
    const g = new TestGateway();
    try {
      const ok = await runDoctor(loadConfig({ dataDir: dir, gateway: g.url, subnets: "ocr" }, {}), {
        skipSandbox: true,
      });
      expect(statusOf(ok, "connectivity")).toBe("ok");
      expect(ok.canServe).toBe(true);
    } finally {
      await g.stop();
    }
    const down = await runDoctor(loadConfig({ dataDir: dir, gateway: "ws://127.0.0.1:9" }, {}), {
      skipSandbox: true,
      gatewayTimeoutMs: 2000,
    });
    expect(down.canServe).toBe(false);
    expect(down.reasons.join("\n")).toContain("subnet");
    expect(down.reasons.join("\n")).toContain("127.0.0.1:9");
  });

  test("configuration problems make the machine unable to serve", async () => {
    const r = await runDoctor({ problems: ["NCN_THREADS: must be a whole number"] });
    expect(r.canServe).toBe(false);
    expect(r.reasons).toEqual(["config/setting: NCN_THREADS: must be a whole number"]);
  });
});

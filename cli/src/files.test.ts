import { expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BaseError } from "@ncn/protocol";
import { readInputFile } from "./files.ts";

const codeOf = (fn: () => unknown): string | undefined => {
  try {
    fn();
  } catch (e) {
    return e instanceof BaseError ? `${e.code}: ${e.shortMessage}` : `untyped: ${String(e)}`;
  }
  return undefined;
};

test("a file named on the command line that is missing or a folder is a typed error naming it", () => {
  const dir = mkdtempSync(join(tmpdir(), "ncn-files-"));
  try {
    expect(codeOf(() => readInputFile(join(dir, "page.png"), "image"))).toBe(
      `NOT_FOUND: no such image: ${join(dir, "page.png")}`,
    );
    expect(codeOf(() => readInputFile(dir))).toBe(`INVALID_INPUT: ${dir} is a folder, not a file`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("`ncn ocr` on a missing file says so, typed, before it looks for a devnet", async () => {
  const proc = Bun.spawn(
    [process.execPath, join(import.meta.dir, "main.ts"), "ocr", "/nonexistent/page.png", "--json"],
    {
      cwd: tmpdir(),
      stdout: "pipe",
      stderr: "pipe",
    },
  );
  const [code, out] = await Promise.all([proc.exited, new Response(proc.stdout).text()]);
  expect(code).toBe(1);
  expect(JSON.parse(out).error).toMatchObject({
    code: "NOT_FOUND",
    message: "no such image: /nonexistent/page.png",
  });
});

test("a client command whose gateway or registry is down says which, typed UNAVAILABLE", async () => {
  const home = mkdtempSync(join(tmpdir(), "ncn-down-"));
  try {
    const server = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const down = `http://127.0.0.1:${server.port}`;
    server.stop(true);
    const key = `0x${"12".repeat(32)}`;
    const address = "0x5fbdb2315678afecb367f032d93f642f64180aa3";
    mkdirSync(join(home, ".ncn"));
    writeFileSync(
      join(home, ".ncn", "devnet.json"),
      JSON.stringify({
        gateway: { url: down },
        registries: [{ url: down, peerId: "x" }],
        chain: {
          rpcUrl: down,
          chainId: 31337,
          contracts: { token: address, payment: address, validatorRegistry: address },
        },
        client: { address, privateKey: key, sessionId: key },
      }),
    );
    for (const args of [
      ["subnet", "list"],
      ["infer", "--model", "tiny-mlp", "--input", "{}"],
    ]) {
      const proc = Bun.spawn([process.execPath, join(import.meta.dir, "main.ts"), ...args], {
        cwd: home,
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, err] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(code).toBe(1);
      expect(err).toContain(`error [UNAVAILABLE]: cannot reach the`);
      expect(err).toContain(`${down}/v1/`);
      expect(err).toContain("connection refused (ECONNREFUSED); is the devnet running?");
    }
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

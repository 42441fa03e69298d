import { afterAll, describe, expect, test } from "bun:test";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { sandboxRunCommand } from "./sandbox-run-command.ts";
import { TEST_SHIM_CACHE } from "./test-support.ts";

const dir = await mkdtemp(join(tmpdir(), "ncn-sandbox-run-"));
afterAll(() => rm(dir, { recursive: true, force: true }));

async function command(argv: string[]): Promise<{ code: number; body: Record<string, unknown> }> {
  const lines: string[] = [];
  const code = await sandboxRunCommand(argv, { cacheDir: TEST_SHIM_CACHE, write: (t) => lines.push(t) });
  expect(lines).toHaveLength(1);
  return { code, body: v.parse(v.record(v.string(), v.unknown()), JSON.parse(lines[0] ?? "null")) };
}

async function script(name: string, text: string | Uint8Array): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe("ncn-agent sandbox run", () => {
  test("runs a file with JSON input and prints the JSON result", async () => {
    const file = await script(
      "sum.py",
      "import json, sys\nprint('summing')\njson.dump(sum(json.load(sys.stdin)), open(3, 'w'))\n",
    );
    const { code, body } = await command([
      file,
      "--input",
      "[1, 2, 39]",
      "--timeout",
      "5",
      "--memory",
      "128",
    ]);
    expect(code).toBe(0);
    expect(body).toMatchObject({ ok: true, result: 42, stdout: "summing\n", exitCode: 0 });
  });

  test("--timeout bounds the wall clock", async () => {
    const file = await script("sleep.py", "import time\ntime.sleep(30)\n");
    const { code, body } = await command([file, "--timeout", "0.5"]);
    expect(code).toBe(1);
    expect(body).toMatchObject({ ok: false, error: { code: "task_timeout", details: { kind: "wall" } } });
  });

  test("--memory bounds the address space", async () => {
    const file = await script("big.py", "x = bytearray(256 * 1024 * 1024)\n");
    const { code, body } = await command([file, "--memory", "64"]);
    expect(code).toBe(1);
    expect(body).toMatchObject({ error: { code: "task_memory" } });
  });

  test("a file that is not UTF-8 is a typed input error", async () => {
    const file = await script("latin1.py", new Uint8Array([0x23, 0xe9, 0x0a]));
    const { code, body } = await command([file]);
    expect(code).toBe(1);
    expect(body).toMatchObject({ error: { code: "source_not_utf8" } });
  });

  test("a limit above the operator's maximum is refused", async () => {
    const file = await script("ok.py", "pass\n");
    const { code, body } = await command([file, "--memory", "2048"]);
    expect(code).toBe(1);
    expect(body).toMatchObject({ error: { code: "limit_above_maximum", details: { limit: "memoryMb" } } });
  });

  test("bad usage exits 2 with the usage text", async () => {
    const file = await script("ok2.py", "pass\n");
    for (const argv of [
      [],
      [file, file],
      [file, "--input", "{nope"],
      [file, "--timeout", "abc"],
      [file, "--bogus"],
      ["/nonexistent.py"],
    ]) {
      const { code, body } = await command(argv);
      expect(`${argv.join(" ")} -> ${code}`).toBe(`${argv.join(" ")} -> 2`);
      expect(body).toMatchObject({ ok: false, error: { code: "usage" } });
    }
  });
});

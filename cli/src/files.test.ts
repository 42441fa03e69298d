import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
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

import { afterAll, describe, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePrivateEmptyDir, enterPrivateWorkDir, PrivateDirError, startDir } from "./private-dir.ts";

const root = mkdtempSync(join(tmpdir(), "ncn-private-dir-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function refusal(fn: () => void): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(PrivateDirError);
    return (e as PrivateDirError).message;
  }
  throw new Error("expected a PrivateDirError");
}

describe("ensurePrivateEmptyDir", () => {
  test("creates the folder mode 0700 and tightens an existing loose one", () => {
    const fresh = join(root, "a", "empty");
    ensurePrivateEmptyDir(fresh);
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
    const loose = join(root, "loose");
    mkdirSync(loose, { mode: 0o777 });
    ensurePrivateEmptyDir(loose);
    expect(statSync(loose).mode & 0o777).toBe(0o700);
  });

  test("refuses a folder holding anything, and a link to a folder", () => {
    const full = join(root, "full");
    mkdirSync(full);
    writeFileSync(join(full, "agent.key"), "0x");
    expect(refusal(() => ensurePrivateEmptyDir(full))).toContain("must be empty");
    const target = join(root, "target");
    mkdirSync(target);
    const link = join(root, "link");
    symlinkSync(target, link);
    expect(refusal(() => ensurePrivateEmptyDir(link))).toContain("not a link");
  });
});

describe("enterPrivateWorkDir", () => {
  test("makes the folder the working directory and remembers where the process started", () => {
    const before = process.cwd();
    const work = join(root, "work");
    try {
      enterPrivateWorkDir(work);
      expect(process.cwd()).toBe(realpathSync(work));
      expect(startDir()).toBe(before);
    } finally {
      process.chdir(before);
    }
  });
});

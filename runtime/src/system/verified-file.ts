import { createHash, randomBytes } from "node:crypto";
import { chmodSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { dirname, relative, sep } from "node:path";
import { RuntimeError } from "../errors.ts";

export interface ExpectedFile {
  /** Lower-case hex sha256 of the content, without 0x. */
  sha256: string;
  size: number;
  /** Mode given to a file this writes (never group or world writable). */
  mode?: number;
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/**
 * Checks that every folder from `root` down to `dir` is a real folder owned by this user,
 * tightening one that others may write to: whoever can write a folder can swap what is in it
 * between the check of a file and its use.
 */
function privateFolders(root: string, dir: string): void {
  const rel = relative(root, dir);
  if (rel.startsWith("..")) throw new RuntimeError("INTERNAL", `${dir} is not inside ${root}`);
  const uid = process.getuid?.();
  let path = root;
  for (const part of ["", ...rel.split(sep).filter((p) => p !== "")]) {
    if (part !== "") path = `${path}${sep}${part}`;
    const st = lstatSync(path);
    if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) {
      throw new RuntimeError(
        "FORBIDDEN",
        `${path} must be a folder owned by this user (uid ${uid}), not ${st.isDirectory() ? `uid ${st.uid}'s` : "a link or file"}`,
        { details: { path, uid: st.uid } },
      );
    }
    if (st.mode & 0o022) chmodSync(path, st.mode & 0o755);
  }
}

/** Whether `path` is a regular file of this user, not writable by others, holding exactly `expected`. */
function holds(path: string, expected: ExpectedFile): boolean {
  const st = lstatSync(path, { throwIfNoEntry: false });
  if (!st?.isFile() || st.size !== expected.size || st.mode & 0o022) return false;
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) return false;
  return sha256Hex(readFileSync(path)) === expected.sha256;
}

/**
 * Makes `target` hold exactly the expected content before anyone uses it (opens it as a
 * library, runs it): a file already there is kept only when it is a regular file owned by
 * this user, not writable by group or others, of the expected size and sha256; anything
 * else is replaced atomically (a new file written beside it, then renamed over it) with the
 * bytes `source` gives, which must hash as expected too. Folders from `root` down must be
 * this user's (see `privateFolders`). Throws `FORBIDDEN` when a folder belongs to someone
 * else, `INTERNAL` when `source` does not match or the result still does not.
 *
 * @example await installVerified(root, join(root, "abc", "libonnxruntime.so.1"), lib, () => Bun.file(lib.path).bytes())
 */
export async function installVerified(
  root: string,
  target: string,
  expected: ExpectedFile,
  source: () => Promise<Uint8Array>,
): Promise<"kept" | "written"> {
  const dir = dirname(target);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  privateFolders(root, dir);
  if (holds(target, expected)) return "kept";
  const bytes = await source();
  if (bytes.byteLength !== expected.size || sha256Hex(bytes) !== expected.sha256) {
    throw new RuntimeError("INTERNAL", `the embedded copy of ${target} does not match its recorded sha256`);
  }
  const tmp = `${target}.${process.pid}.${randomBytes(6).toString("hex")}.tmp`;
  try {
    writeFileSync(tmp, bytes, { flag: "wx", mode: expected.mode ?? 0o500 });
    renameSync(tmp, target);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw new RuntimeError("FORBIDDEN", `cannot replace ${target}: ${(e as Error).message}`, { cause: e });
  }
  if (!holds(target, expected)) throw new RuntimeError("INTERNAL", `${target} changed while it was written`);
  return "written";
}

import { chmodSync, lstatSync, mkdirSync, readdirSync, statSync } from "node:fs";
import { BaseError } from "./errors.ts";

/**
 * A working folder that is not private and empty: every problem is listed. Configuration
 * errors to the processes that use it (agent, registry node).
 */
export class PrivateDirError extends BaseError<"INVALID_INPUT"> {
  override name = "PrivateDirError";
  readonly problems: readonly string[];

  constructor(problems: readonly string[]) {
    super("INVALID_INPUT", `invalid working folder:\n  - ${problems.join("\n  - ")}`, {
      details: { problems },
    });
    this.problems = problems;
  }
}

/**
 * Makes `path` a folder that only this user can enter, and checks that it is empty: a real
 * folder (not a link) owned by this user, mode 0700. onnxruntime resolves the external data
 * a model names against such a folder, and agents and registry nodes run with it as their
 * working directory, so nothing a model names can be found. Anything in it is refused, not
 * deleted: nothing the process does writes there. Node-only: imported as
 * `@ncn/protocol/private-dir`, never from the package root the Worker loads.
 *
 * @example ensurePrivateEmptyDir(join(dataDir, "empty"))
 */
export function ensurePrivateEmptyDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const st = lstatSync(path);
  const uid = process.getuid?.();
  const problems: string[] = [];
  if (!st.isDirectory()) problems.push(`${path} must be a folder, not a link or a file`);
  else if (uid !== undefined && st.uid !== uid)
    problems.push(`${path} belongs to uid ${st.uid}, not to this user (${uid})`);
  if (problems.length > 0) throw new PrivateDirError(problems);
  if ((st.mode & 0o777) !== 0o700) chmodSync(path, 0o700);
  const entries = readdirSync(path);
  if (entries.length > 0)
    throw new PrivateDirError([
      `${path} must be empty (it holds ${entries.length} entr${entries.length === 1 ? "y" : "ies"}); remove them`,
    ]);
}

let launchDir: string | undefined;

/**
 * Makes `path` (see `ensurePrivateEmptyDir`) the process's working directory, so that no
 * relative path anything resolves later reaches the operator's files. Relative settings must
 * be made absolute before this runs.
 *
 * @example enterPrivateWorkDir(join(config.dataDir, "empty"))
 */
export function enterPrivateWorkDir(path: string): void {
  ensurePrivateEmptyDir(path);
  const from = process.cwd();
  const expected = lstatSync(path);
  process.chdir(path);
  // The folder checked above is the one entered, not a link swapped in meanwhile.
  const here = statSync(".");
  if (here.dev !== expected.dev || here.ino !== expected.ino) {
    process.chdir(from);
    throw new PrivateDirError([`${path} changed while it was being entered`]);
  }
  launchDir ??= from;
}

/** The working directory the process started in, before `enterPrivateWorkDir`. */
export function startDir(): string {
  return launchDir ?? process.cwd();
}

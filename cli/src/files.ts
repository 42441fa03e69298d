import { readFileSync } from "node:fs";
import { BaseError } from "@ncn/protocol";

/**
 * Reads a file named on the command line; a missing or unreadable file is a typed error
 * naming it (`NOT_FOUND`, `FORBIDDEN`, `INVALID_INPUT` for a folder), not an internal one.
 */
export function readInputFile(path: string, what = "file"): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    throw fileError(e, path, what);
  }
}

export function fileError(e: unknown, path: string, what = "file"): BaseError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === "ENOENT") return new BaseError("NOT_FOUND", `no such ${what}: ${path}`, { cause: e });
  if (code === "EACCES" || code === "EPERM")
    return new BaseError("FORBIDDEN", `cannot read ${what} ${path}: permission denied`, { cause: e });
  if (code === "EISDIR")
    return new BaseError("INVALID_INPUT", `${path} is a folder, not a ${what}`, { cause: e });
  return new BaseError("INVALID_INPUT", `cannot read ${what} ${path}: ${(e as Error).message}`, { cause: e });
}

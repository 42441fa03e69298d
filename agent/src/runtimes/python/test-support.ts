import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * Shim cache shared by this folder's tests, so the helper is compiled once per
 * source version rather than once per test file. Created 0700 by the first
 * test; a directory someone else planted there is refused by the ownership check.
 */
export const TEST_SHIM_CACHE = join(tmpdir(), `ncn-sandbox-test-shim-${process.getuid?.() ?? "u"}`);

/**
 * Build-time compile of the sandbox shim:
 *   npx bun agent/src/runtimes/python/build-shim.ts --out dist/ncn-sandbox [--dynamic] [--cc gcc]
 * A static helper (the default) runs on any Linux of the same architecture; an
 * executable can carry it as a file asset and hand it to `materializeShim`.
 */
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { compileShim } from "./shim-build.ts";

const { values } = parseArgs({
  options: { out: { type: "string" }, dynamic: { type: "boolean" }, cc: { type: "string" } },
});
if (values.out === undefined) {
  process.stderr.write("usage: build-shim.ts --out PATH [--dynamic] [--cc COMPILER]\n");
  process.exit(2);
}
const out = resolve(values.out);
await compileShim(out, {
  static: values.dynamic !== true,
  ...(values.cc === undefined ? {} : { cc: values.cc }),
});
process.stdout.write(`${out}\n`);

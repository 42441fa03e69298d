import { ensureNativeLibs } from "../system/native-libs.ts";

export type Sharp = typeof import("sharp").default;

let sharp: Promise<Sharp> | undefined;

/**
 * Loads sharp after the embedded libvips (single executable) is open. The CommonJS
 * entry is required on purpose: its platform addon is a static `require` the compiler
 * can embed, which the ES module entry's `createRequire` is not.
 */
export function loadSharp(): Promise<Sharp> {
  sharp ??= (async () => {
    await ensureNativeLibs();
    return require("sharp") as Sharp;
  })();
  return sharp;
}

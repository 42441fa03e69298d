/**
 * Files baked into the agent's single executable by its build
 * (`agent/src/build/build-executable.ts`, which registers them here before the agent
 * starts). When code runs from source nothing is registered and every lookup falls
 * through to node_modules.
 */
export interface EmbeddedNativeLib {
  /** File name the library must have on disk (its soname), e.g. `libonnxruntime.so.1`. */
  soname: string;
  /** Path Bun gives the embedded file (under `/$bunfs/` in a compiled executable). */
  path: string;
  /** A symbol to resolve when opening it, proving the library loaded. */
  symbol: string;
  /** Size in bytes. */
  size: number;
  /** Hex sha256 (no 0x) computed at build time: an extracted copy is opened only when it matches. */
  sha256: string;
}

export interface EmbeddedAssets {
  nativeLibs: EmbeddedNativeLib[];
  /** `npm:` source (without the prefix, `<package>/<path>`) -> embedded file path. */
  npmFiles: Record<string, string>;
  /** The prebuilt sandbox helper, when the build could compile one. */
  sandboxShim?: string;
  /** URL of the bundled inference thread (a second entry point of the executable). */
  inferenceWorker?: string;
}

const assets: EmbeddedAssets = { nativeLibs: [], npmFiles: {} };

export function registerEmbeddedAssets(add: Partial<EmbeddedAssets>): void {
  if (add.nativeLibs) assets.nativeLibs.push(...add.nativeLibs);
  if (add.npmFiles) Object.assign(assets.npmFiles, add.npmFiles);
  if (add.sandboxShim) assets.sandboxShim = add.sandboxShim;
  if (add.inferenceWorker) assets.inferenceWorker = add.inferenceWorker;
}

export function embeddedAssets(): Readonly<EmbeddedAssets> {
  return assets;
}

/** True inside a `bun build --compile` executable. */
export function isCompiled(): boolean {
  return import.meta.url.includes("$bunfs") || import.meta.path.startsWith("/$bunfs/");
}

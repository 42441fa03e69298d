/**
 * Isolation layers of the Python sandbox.
 *
 * Core layers are always applied; the shim refuses to run when one of them
 * cannot be set up. Optional layers depend on kernel features (Landlock ABI,
 * seccomp) and are required unless the operator turns them off; the shim
 * applies whatever the kernel offers either way, so a program never runs with
 * fewer layers than configured.
 */
export const CORE_LAYERS = [
  "unprivileged-uid",
  "user-namespace",
  "mount-namespace",
  "pid-namespace",
  "network-namespace",
  "ipc-namespace",
  "uts-namespace",
  "cgroup-namespace",
  "filesystem",
  "rlimits",
  "capabilities",
  "no-new-privs",
] as const;

/** Bit values match LAYER_* in shim/shim.h. */
export const OPTIONAL_LAYER_BITS = {
  "landlock-fs": 0x1,
  "landlock-net": 0x2,
  "landlock-scope": 0x4,
  seccomp: 0x8,
} as const;

export type CoreLayer = (typeof CORE_LAYERS)[number];
export type OptionalLayer = keyof typeof OPTIONAL_LAYER_BITS;
export type Layer = CoreLayer | OptionalLayer;

export const OPTIONAL_LAYERS = Object.keys(OPTIONAL_LAYER_BITS) as OptionalLayer[];
export const ALL_LAYERS: readonly Layer[] = [...CORE_LAYERS, ...OPTIONAL_LAYERS];

/** The `--layers` mask the shim expects for a set of required optional layers. */
export function layerMask(required: readonly OptionalLayer[]): number {
  let mask = 0;
  for (const layer of required) mask |= OPTIONAL_LAYER_BITS[layer];
  return mask;
}

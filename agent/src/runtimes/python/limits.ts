import { TaskInputError } from "./errors.ts";
import type { SandboxLimits, SandboxMaxima, TaskLimits } from "./schemas.ts";

const MiB = 1024 * 1024;

/** Limits a task gets when it asks for nothing (each still capped by the maxima). */
export const DEFAULT_LIMITS: SandboxLimits = {
  wallMs: 10_000,
  cpuSeconds: 10,
  memoryMb: 256,
  diskMb: 64,
  fileSizeMb: 16,
  outputBytes: MiB,
  resultBytes: MiB,
  processes: 16,
  openFiles: 64,
};

/** Operator ceilings used when the agent's configuration sets none. */
export const DEFAULT_MAXIMA: SandboxMaxima = {
  wallMs: 60_000,
  cpuSeconds: 60,
  memoryMb: 1024,
  diskMb: 256,
  fileSizeMb: 64,
  outputBytes: 8 * MiB,
  resultBytes: 8 * MiB,
  processes: 64,
  openFiles: 256,
  sourceBytes: MiB,
  inputBytes: 16 * MiB,
};

const LIMIT_KEYS = Object.keys(DEFAULT_LIMITS) as (keyof SandboxLimits)[];

/**
 * Fills a task's limits from the defaults and checks them against the
 * operator's maxima. Asking for more than a maximum is an error, not a
 * silent cap, so a requester knows what it got.
 *
 * @example resolveLimits({ wallMs: 2000 }, DEFAULT_MAXIMA).wallMs // 2000
 */
export function resolveLimits(requested: TaskLimits, maxima: SandboxMaxima): SandboxLimits {
  const out = { ...DEFAULT_LIMITS };
  for (const key of LIMIT_KEYS) {
    const asked = requested[key];
    if (asked === undefined) {
      out[key] = Math.min(DEFAULT_LIMITS[key], maxima[key]);
    } else if (asked > maxima[key]) {
      throw new TaskInputError(
        "limit_above_maximum",
        `limit ${key}=${asked} is above this agent's maximum of ${maxima[key]}`,
        { limit: key, requested: asked, maximum: maxima[key] },
      );
    } else {
      out[key] = asked;
    }
  }
  return out;
}

/**
 * Sandboxed Python runtime of the compute agent.
 *
 * A task's program runs as an unprivileged uid inside new user, pid, mount,
 * network, ipc, uts and cgroup namespaces, on a read-only minimal root with a
 * private tmpfs work dir, under Landlock, seccomp, rlimits, with no
 * capabilities and no_new_privs. It reads its JSON input on stdin and writes
 * its JSON result to descriptor 3.
 */
export {
  PythonSandboxError,
  type PythonSandboxErrorCode,
  type RunTrace,
  SandboxInternalError,
  SandboxRefusedError,
  TaskFailedError,
  TaskInputError,
  type TaskInputErrorCode,
  TaskMemoryError,
  TaskOutputTooLargeError,
  TaskResultError,
  TaskTimeoutError,
} from "./errors.ts";
export type { PythonResult, PythonUsage } from "./interpret-run.ts";
export {
  ALL_LAYERS,
  CORE_LAYERS,
  type CoreLayer,
  type Layer,
  OPTIONAL_LAYERS,
  type OptionalLayer,
} from "./layers.ts";
export { DEFAULT_LIMITS, DEFAULT_MAXIMA, resolveLimits } from "./limits.ts";
export {
  DEFAULT_PYTHON,
  DEFAULT_SANDBOX_UID,
  type PythonRuntimeOptions,
  runPythonTask,
  type ShimLaunch,
  type ShimLauncher,
} from "./run-python-task.ts";
export { type LayerReport, sandboxDoctor } from "./sandbox-doctor.ts";
export {
  SANDBOX_RUN_USAGE,
  type SandboxRunCommandOptions,
  sandboxRunCommand,
} from "./sandbox-run-command.ts";
export { PythonTask, RequiredLayers, SandboxLimits, SandboxMaxima, TaskLimits } from "./schemas.ts";
export { buildShim, compileShim, defaultShimCacheDir, materializeShim, resolveShim } from "./shim-build.ts";
export { PYTHON_FLAGS, SANDBOX_SOURCE_PATH } from "./shim-protocol.ts";

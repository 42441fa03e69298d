import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, mkdtemp, readFile, rm, rmdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ShimLauncher } from "./run-python-task.ts";

/**
 * Outer guard for the escape suite, so hostile programs stay harmless even if
 * the sandbox itself were broken:
 * - a cgroup (v2, or v1 pids + memory controllers) with its own pids and
 *   memory ceilings holds every process the suite starts;
 * - each shim runs as pid 1 of its own pid namespace (`unshare --pid --fork
 *   --kill-child --mount-proc`), in a new session, so even a kill(-1) as root
 *   could reach nothing but the guard's own processes;
 * - canaries the tests look for: a secret file outside the work dir, a secret
 *   environment variable, and three descriptors every shim inherits, each
 *   holding the secret: the secret file (fd 7), a TCP socket to a loopback
 *   listener the guard runs, which sends the secret on connect (fd 8), and the
 *   read end of a pipe with the secret in it (fd 9).
 */
export interface OuterGuard {
  readonly launcher: ShimLauncher;
  readonly canary: {
    readonly secret: string;
    readonly envName: string;
    /** Directory outside the sandbox, mode 0755: only the sandbox keeps programs out. */
    readonly dir: string;
    /** Secret file, mode 0644. */
    readonly file: string;
    /** World-writable directory: only the sandbox keeps programs from writing here. */
    readonly dropDir: string;
  };
  readonly cgroupDirs: readonly string[];
  /** Connections the canary socket listener has accepted (one per launch). */
  readonly socketConnections: () => number;
  dispose(): Promise<void>;
}

export interface OuterGuardOptions {
  readonly pidsMax: number;
  readonly memoryBytes: number;
}

const CGROUP_ROOT = "/sys/fs/cgroup";
/** Descriptors each launch inherits, in the order file, socket, pipe. */
export const CANARY_FDS = { file: 7, socket: 8, pipe: 9 } as const;

async function controllersV2(): Promise<string[]> {
  try {
    return (await readFile(join(CGROUP_ROOT, "cgroup.controllers"), "utf8")).trim().split(/\s+/);
  } catch {
    return [];
  }
}

async function createCgroups(name: string, options: OuterGuardOptions): Promise<string[]> {
  const v2 = await controllersV2();
  if (v2.includes("pids") && v2.includes("memory")) {
    await writeFile(join(CGROUP_ROOT, "cgroup.subtree_control"), "+pids +memory");
    const dir = join(CGROUP_ROOT, name);
    await mkdir(dir);
    await writeFile(join(dir, "pids.max"), String(options.pidsMax));
    await writeFile(join(dir, "memory.max"), String(options.memoryBytes));
    if (existsSync(join(dir, "memory.swap.max"))) await writeFile(join(dir, "memory.swap.max"), "0");
    return [dir];
  }
  const pids = join(CGROUP_ROOT, "pids");
  const memory = join(CGROUP_ROOT, "memory");
  if (existsSync(join(pids, "cgroup.procs")) && existsSync(join(memory, "cgroup.procs"))) {
    const dirs = [join(pids, name), join(memory, name)] as const;
    await mkdir(dirs[0]);
    await mkdir(dirs[1]);
    await writeFile(join(dirs[0], "pids.max"), String(options.pidsMax));
    await writeFile(join(dirs[1], "memory.limit_in_bytes"), String(options.memoryBytes));
    return [...dirs];
  }
  throw new Error(
    "the escape suite needs a writable cgroup (v2 with pids+memory, or v1 pids and memory) for its outer guard",
  );
}

async function emptyAndRemove(dir: string): Promise<void> {
  for (let attempt = 0; attempt < 100; attempt++) {
    let pids: number[] = [];
    try {
      pids = (await readFile(join(dir, "cgroup.procs"), "utf8"))
        .split("\n")
        .filter((l) => l !== "")
        .map(Number);
    } catch {
      return;
    }
    if (pids.length === 0) {
      try {
        await rmdir(dir);
        return;
      } catch {
        // a process is still leaving; retry
      }
    }
    // Only processes the suite itself put in this cgroup can be here.
    for (const pid of pids) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Bun.sleep(20);
  }
  throw new Error(`could not remove guard cgroup ${dir}`);
}

/** Creates the guard; call `dispose()` when the suite ends. */
export async function createOuterGuard(options: OuterGuardOptions): Promise<OuterGuard> {
  const suffix = `${process.pid}-${randomBytes(4).toString("hex")}`;
  const secret = `ncn-canary-${randomBytes(16).toString("hex")}`;
  const dir = await mkdtemp(join(tmpdir(), "ncn-escape-"));
  await chmod(dir, 0o755);
  const file = join(dir, "secret.txt");
  await writeFile(file, `${secret}\n`, { mode: 0o644 });
  await chmod(file, 0o644);
  const dropDir = join(dir, "drop");
  await mkdir(dropDir);
  await chmod(dropDir, 0o777);

  let cgroupDirs: string[];
  try {
    cgroupDirs = await createCgroups(`ncn-escape-${suffix}`, options);
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }

  // Sends the secret to whoever connects, so the socket a launch inherits has it waiting.
  let connections = 0;
  const canarySocket = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        connections++;
        socket.write(`${secret}\n`);
      },
      data() {},
    },
  });

  const envName = "NCN_ESCAPE_CANARY";
  const { file: fileFd, socket: socketFd, pipe: pipeFd } = CANARY_FDS;
  const enter = cgroupDirs.map((d) => `echo $$ > '${join(d, "cgroup.procs")}' || exit 97`).join("; ");
  const canaries = [
    `exec ${fileFd}<'${file}'`,
    `exec ${socketFd}<>/dev/tcp/127.0.0.1/${canarySocket.port} || exit 98`,
    `exec ${pipeFd}< <(printf '%s\\n' "$${envName}")`,
  ].join("; ");
  const script = `${enter}; ${canaries}; exec setsid unshare --pid --fork --kill-child --mount-proc -- "$@"`;
  const launcher: ShimLauncher = (argv) => ({
    argv: ["/bin/bash", "-c", script, "ncn-guard", ...argv],
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", [envName]: secret },
  });

  return {
    launcher,
    canary: { secret, envName, dir, file, dropDir },
    cgroupDirs,
    socketConnections: () => connections,
    async dispose() {
      canarySocket.stop(true);
      for (const d of cgroupDirs) await emptyAndRemove(d);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

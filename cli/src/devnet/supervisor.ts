import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { BaseError } from "@ncn/protocol";
import * as v from "valibot";

const PidFile = v.array(v.object({ name: v.string(), pid: v.number(), marker: v.string() }));

export interface Child {
  name: string;
  proc: ChildProcess;
  /** Resolves with the exit code when the process ends. */
  exited: Promise<number | null>;
}

/**
 * Starts and stops the devnet's child processes. Each child runs in its own process
 * group so that stopping it also stops what it spawned; pids are written to a file so
 * that a later run can clean up after a crash.
 */
export class Supervisor {
  readonly children: Child[] = [];
  #stopping = false;

  constructor(
    readonly pidFile: string,
    readonly marker: string,
  ) {}

  /**
   * Kills processes a previous run left behind: every process whose environment carries
   * that run's marker (children spawned here, and what the devnet process started itself,
   * such as anvil and workerd, which inherit it).
   */
  static reapStale(pidFile: string): number {
    if (!existsSync(pidFile)) return 0;
    const markers = new Set<string>();
    try {
      const parsed = v.safeParse(PidFile, JSON.parse(readFileSync(pidFile, "utf8")));
      if (parsed.success) for (const p of parsed.output) markers.add(p.marker);
    } catch {}
    // A devnet whose owner still runs is live, not left over: it is never touched.
    for (const marker of markers) {
      const owner = Number(marker.slice(marker.lastIndexOf(":") + 1));
      if (!Number.isInteger(owner) || owner === process.pid || !alive(owner)) continue;
      const children = readdirSync("/proc").filter((e) => /^\d+$/.test(e) && isOurs(Number(e), marker));
      if (children.length === 0) continue;
      throw new BaseError(
        "CONFLICT",
        `a devnet is already running from this folder (process ${owner}, ${children.length} processes): stop it first (Ctrl-C where it runs, or kill ${owner}); nothing was touched`,
        { details: { pid: owner } },
      );
    }
    let killed = 0;
    for (const entry of readdirSync("/proc")) {
      if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
      for (const marker of markers) {
        if (!isOurs(Number(entry), marker)) continue;
        try {
          process.kill(Number(entry), "SIGKILL");
          killed++;
        } catch {}
      }
    }
    rmSync(pidFile, { force: true });
    return killed;
  }

  /** Marks this process's environment so that whatever it starts can be found after a crash. */
  adopt(): void {
    process.env.NCN_DEVNET_MARKER = this.marker;
    this.#writePids();
  }

  spawn(
    name: string,
    cmd: string,
    args: string[],
    opts: { env?: NodeJS.ProcessEnv; logFile?: string; cwd?: string } = {},
  ): Child {
    const proc = spawn(cmd, [...args], {
      cwd: opts.cwd,
      env: { ...process.env, ...opts.env, NCN_DEVNET_MARKER: this.marker },
      stdio: ["ignore", "pipe", "pipe"],
      detached: true,
    });
    const exited = new Promise<number | null>((resolve) => proc.once("exit", (code) => resolve(code)));
    const child: Child = { name, proc, exited };
    this.children.push(child);
    this.#writePids();
    return child;
  }

  /** Stops one child (SIGTERM to its group, SIGKILL after a grace period). */
  async stopChild(child: Child, graceMs = 3000): Promise<void> {
    const pid = child.proc.pid;
    if (pid === undefined || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
    try {
      process.kill(-pid, "SIGTERM");
    } catch {}
    const timer = setTimeout(() => {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
    }, graceMs);
    await child.exited;
    clearTimeout(timer);
    this.#forget(child);
  }

  #forget(child: Child): void {
    const i = this.children.indexOf(child);
    if (i >= 0) this.children.splice(i, 1);
    this.#writePids();
  }

  /** Kills one child at once (SIGKILL to its group, no grace), as a crash would. */
  async killChild(child: Child): Promise<void> {
    const pid = child.proc.pid;
    if (pid !== undefined && child.proc.exitCode === null && child.proc.signalCode === null) {
      try {
        process.kill(-pid, "SIGKILL");
      } catch {}
      await child.exited;
    }
    this.#forget(child);
  }

  async stopAll(): Promise<void> {
    if (this.#stopping) return;
    this.#stopping = true;
    await Promise.all([...this.children].reverse().map((c) => this.stopChild(c)));
    rmSync(this.pidFile, { force: true });
  }

  #writePids(): void {
    mkdirSync(dirname(this.pidFile), { recursive: true });
    const list = [
      { name: "devnet", pid: process.pid, marker: this.marker },
      ...this.children
        .filter((c) => c.proc.pid !== undefined)
        .map((c) => ({ name: c.name, pid: c.proc.pid as number, marker: this.marker })),
    ];
    writeFileSync(this.pidFile, JSON.stringify(list));
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function isOurs(pid: number, marker: string): boolean {
  try {
    const env = readFileSync(`/proc/${pid}/environ`, "utf8");
    return env.includes(`NCN_DEVNET_MARKER=${marker}`);
  } catch {
    return false;
  }
}

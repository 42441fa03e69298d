import { afterEach, expect, test } from "bun:test";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { BaseError } from "@ncn/protocol";
import { Supervisor } from "./supervisor.ts";

const started: ChildProcess[] = [];
afterEach(() => {
  for (const p of started.splice(0)) p.kill("SIGKILL");
});

function sleeper(env: Record<string, string> = {}): ChildProcess {
  const p = spawn("sleep", ["30"], { env: { ...process.env, ...env }, stdio: "ignore" });
  started.push(p);
  return p;
}

const exited = (p: ChildProcess) =>
  p.exitCode !== null || p.signalCode !== null
    ? Promise.resolve()
    : new Promise<void>((r) => p.once("exit", () => r()));

test("a devnet whose owner still runs is refused, untouched; once the owner is gone its processes are reaped", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ncn-supervisor-"));
  try {
    const owner = sleeper();
    const marker = `${dir}:${owner.pid}`;
    const child = sleeper({ NCN_DEVNET_MARKER: marker });
    const pidFile = join(dir, "pids.json");
    writeFileSync(pidFile, JSON.stringify([{ name: "anvil", pid: child.pid, marker }]));
    await new Promise((r) => setTimeout(r, 100));
    let refused: unknown;
    try {
      Supervisor.reapStale(pidFile);
    } catch (e) {
      refused = e;
    }
    expect(refused).toBeInstanceOf(BaseError);
    expect((refused as BaseError).code).toBe("CONFLICT");
    expect((refused as BaseError).shortMessage).toContain(`process ${owner.pid}`);
    expect(child.exitCode === null && child.signalCode === null).toBe(true);

    owner.kill("SIGKILL");
    await exited(owner);
    expect(Supervisor.reapStale(pidFile)).toBe(1);
    await exited(child);
    expect(child.signalCode).toBe("SIGKILL");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { ContractsError } from "../errors.ts";

/** A running anvil process bound to 127.0.0.1. */
export interface AnvilInstance {
  /** JSON-RPC URL, e.g. `http://127.0.0.1:41234`. */
  readonly url: string;
  readonly port: number;
  /** PID of the anvil binary itself (not of a wrapper script). */
  readonly pid: number;
  readonly chainId: number;
  /** Stops anvil (SIGTERM, then SIGKILL after 2 s) and resolves once it exited. */
  stop(): Promise<void>;
}

export interface StartAnvilOptions {
  /** Defaults to 31337. */
  chainId?: number;
  /** Seconds per block; omitted means a block per transaction (automine). */
  blockTime?: number;
  /** Number of funded dev accounts (default 10). */
  accounts?: number;
  /** Give up if anvil has not listened after this long (default 10 s). */
  timeoutMs?: number;
  /** Extra command-line arguments. */
  args?: readonly string[];
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** Path of the anvil binary shipped by `@foundry-rs/anvil` (or `$ANVIL_BIN`). */
export function anvilBinary(): string {
  const fromEnv = process.env.ANVIL_BIN;
  if (fromEnv) return fromEnv;
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = require.resolve("@foundry-rs/anvil-linux-amd64/package.json");
  } catch (cause) {
    throw new ContractsError("ANVIL_NOT_FOUND", "@foundry-rs/anvil-linux-amd64 is not installed", { cause });
  }
  const bin = join(dirname(pkg), "bin", "anvil");
  if (!existsSync(bin)) throw new ContractsError("ANVIL_NOT_FOUND", `anvil binary missing at ${bin}`);
  return bin;
}

/**
 * Starts anvil on a free loopback port (anvil picks it: `--port 0`) and resolves when it listens.
 *
 * @example
 * const anvil = await startAnvil();
 * try { ... anvil.url ... } finally { await anvil.stop(); }
 */
export function startAnvil(options: StartAnvilOptions = {}): Promise<AnvilInstance> {
  const chainId = options.chainId ?? 31337;
  const args = ["--host", "127.0.0.1", "--port", "0", "--chain-id", String(chainId)];
  args.push("--accounts", String(options.accounts ?? 10));
  if (options.blockTime !== undefined) args.push("--block-time", String(options.blockTime));
  args.push(...(options.args ?? []));
  const child = spawn(anvilBinary(), args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  installExitHook();

  return new Promise<AnvilInstance>((resolve, reject) => {
    let output = "";
    let settled = false;
    const fail = (message: string, cause?: unknown) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      live.delete(child);
      reject(new ContractsError("ANVIL_START_FAILED", message, { cause, details: { output } }));
    };
    const timer = setTimeout(() => fail("anvil did not start in time"), options.timeoutMs ?? 10_000);
    const onData = (chunk: Buffer) => {
      // Keep draining after start-up: a full pipe would block anvil's logging.
      if (settled) return;
      output += chunk.toString("utf8");
      const m = /Listening on 127\.0\.0\.1:(\d+)/.exec(output);
      if (!m?.[1] || child.pid === undefined) return;
      settled = true;
      clearTimeout(timer);
      const port = Number(m[1]);
      resolve({
        url: `http://127.0.0.1:${port}`,
        port,
        pid: child.pid,
        chainId,
        stop: () => stopChild(child),
      });
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("error", (err) => fail(`anvil failed to spawn: ${err.message}`, err));
    child.once("exit", (code, signal) => {
      live.delete(child);
      fail(`anvil exited before listening (code ${code}, signal ${signal})`);
    });
  });
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) {
    live.delete(child);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), 2_000);
    child.once("exit", () => {
      clearTimeout(kill);
      live.delete(child);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

/** Never leave an anvil behind when the host process exits without stopping it. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Readable } from "node:stream";
import { Miniflare } from "miniflare";

const ENTRY = resolve(import.meta.dirname, "index.ts");

let bundled: Promise<string> | undefined;

/** Bundles the Worker once per process into an ES module (cloudflare:* left external). */
export function bundleWorker(): Promise<string> {
  bundled ??= (async () => {
    const outdir = mkdtempSync(join(tmpdir(), "ncn-gw-bundle-"));
    const r = await Bun.build({
      entrypoints: [ENTRY],
      outdir,
      format: "esm",
      target: "browser",
      external: ["cloudflare:*"],
      conditions: ["workerd", "worker", "browser"],
    });
    if (!r.success) throw new Error(`worker bundle failed: ${r.logs.map(String).join("\n")}`);
    const out = r.outputs.find((o) => o.kind === "entry-point");
    if (!out) throw new Error("worker bundle has no entry point");
    return out.path;
  })();
  return bundled;
}

export interface GatewayHandle {
  url: string;
  mf: Miniflare;
  /** The workerd process serving this gateway (undefined if it could not be told apart). */
  pid: number | undefined;
  stop(): Promise<void>;
  /**
   * Kills workerd with SIGKILL (no shutdown: what it had not written is lost, as in a crash),
   * then releases what Miniflare holds in this process. The persisted state stays.
   */
  kill(): Promise<void>;
}

/**
 * Runs the gateway Worker in workerd (Miniflare API) on 127.0.0.1 with the given vars:
 * what the devnet and the tests use. `port` 0 picks a free port.
 */
export async function startGateway(
  vars: Record<string, string>,
  opts: { port?: number; persistDir?: string; logFile?: string } = {},
): Promise<GatewayHandle> {
  const scriptPath = await bundleWorker();
  const before = new Set(miniflareTemps());
  const runtimesBefore = new Set(workerdChildren());
  const persist = opts.persistDir ?? mkdtempSync(join(tmpdir(), "ncn-gw-state-"));
  mkdirSync(persist, { recursive: true });
  const mf = new Miniflare({
    modules: true,
    scriptPath,
    // Module names are relative to this root; the bundle lives outside the cwd.
    modulesRoot: dirname(scriptPath),
    compatibilityDate: "2026-04-01",
    compatibilityFlags: ["nodejs_compat"],
    durableObjects: {
      SUBNET: { className: "SubnetShard", useSQLite: true },
      REQUEST: { className: "RequestObject", useSQLite: true },
      SESSION: { className: "SessionObject", useSQLite: true },
      SETTLEMENT: { className: "SettlementObject", useSQLite: true },
    },
    durableObjectsPersist: persist,
    bindings: vars,
    cf: false,
    // For CPU profiles of the Worker (Chrome DevTools protocol); off unless asked.
    ...(process.env.NCN_GATEWAY_INSPECTOR_PORT
      ? { inspectorPort: Number(process.env.NCN_GATEWAY_INSPECTOR_PORT) }
      : {}),
    // The Worker's JSON logs: to a file when asked, else to stderr only with NCN_GATEWAY_LOG=1.
    handleRuntimeStdio(stdout: Readable, stderr: Readable) {
      const sink = opts.logFile
        ? createWriteStream(opts.logFile, { flags: "a" })
        : process.env.NCN_GATEWAY_LOG === "1"
          ? process.stderr
          : undefined;
      if (!sink) {
        stdout.resume();
        stderr.resume();
        return;
      }
      stdout.pipe(sink, { end: false });
      stderr.pipe(sink, { end: false });
    },
    host: "127.0.0.1",
    port: opts.port ?? 0,
  });
  const url = (await mf.ready).toString().replace(/\/$/, "");
  const pid = workerdChildren().find((p) => !runtimesBefore.has(p));
  const cleanUp = () => {
    if (!opts.persistDir) rmSync(persist, { recursive: true, force: true });
    // Miniflare leaves its scratch folders behind; remove the ones this gateway made.
    for (const d of miniflareTemps())
      if (!before.has(d)) rmSync(join(tmpdir(), d), { recursive: true, force: true });
  };
  return {
    url,
    mf,
    pid,
    async stop() {
      await mf.dispose();
      cleanUp();
    },
    async kill() {
      if (pid !== undefined) {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
        // The port is free once the process is gone.
        while (isAlive(pid)) await new Promise((r) => setTimeout(r, 20));
      }
      await mf.dispose().catch(() => undefined);
      cleanUp();
    },
  };
}

function miniflareTemps(): string[] {
  return readdirSync(tmpdir()).filter((d) => d.startsWith("miniflare-"));
}

/** workerd processes started by this process (Miniflare spawns the runtime as a direct child). */
function workerdChildren(): number[] {
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesised command name: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(fields[1]) !== process.pid) continue;
      if (readFileSync(`/proc/${entry}/cmdline`, "utf8").includes("workerd")) out.push(Number(entry));
    } catch {}
  }
  return out;
}

function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

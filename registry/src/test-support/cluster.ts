import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RegistryConfigInput } from "../config.ts";
import { createLogger } from "../logger.ts";
import { type RegistryNode, type StartRegistryNodeOptions, startRegistryNode } from "../node.ts";

/** A temporary folder removed by `cleanup()`. */
export function tempDir(prefix = "ncn-registry-"): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** Polls `check` until it returns a truthy value or `timeoutMs` passes. */
export async function waitFor<T>(
  check: () => T,
  timeoutMs = 10_000,
  what = "condition",
): Promise<NonNullable<Awaited<T>>> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value as NonNullable<Awaited<T>>;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(25);
  }
}

export const quietLogger = () =>
  createLogger("registry", { level: process.env.NCN_TEST_LOG === "1" ? "debug" : "error" });

export interface TestNodeOptions extends Omit<StartRegistryNodeOptions, "config"> {
  config?: Partial<RegistryConfigInput>;
}

/** Starts a node on loopback with ephemeral ports in `dataDir`. */
export function startTestNode(dataDir: string, options: TestNodeOptions = {}): Promise<RegistryNode> {
  return startRegistryNode({
    logger: quietLogger(),
    ...options,
    config: { dataDir, httpPort: 0, listen: ["/ip4/127.0.0.1/tcp/0"], ...options.config },
  });
}

export interface Cluster {
  nodes: RegistryNode[];
  dirs: string[];
  stop(): Promise<void>;
}

/**
 * Starts `n` nodes, every one bootstrapping from the first, and waits until each has at
 * least `minPeers` peers in its DHT routing table.
 */
export async function startCluster(
  n: number,
  options: { minPeers?: number; perNode?: (i: number) => TestNodeOptions } = {},
): Promise<Cluster> {
  const dir = tempDir();
  const nodes: RegistryNode[] = [];
  const dirs: string[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((node) => node.stop()));
    dir.cleanup();
  };
  try {
    for (let i = 0; i < n; i++) {
      const dataDir = join(dir.path, `node-${i}`);
      dirs.push(dataDir);
      const extra = options.perNode?.(i) ?? {};
      const first = nodes[0];
      nodes.push(
        await startTestNode(dataDir, {
          ...extra,
          config: { ...(first ? { bootstrap: first.multiaddrs() } : {}), ...extra.config },
        }),
      );
    }
    const minPeers = options.minPeers ?? Math.min(2, n - 1);
    await waitFor(() => nodes.every((node) => node.routingTableSize() >= minPeers), 20_000, "routing tables");
  } catch (e) {
    await stop();
    throw e;
  }
  return { nodes, dirs, stop };
}

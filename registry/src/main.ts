import { join } from "node:path";
import { useFastKeccak } from "@ncn/protocol";
import { enterPrivateWorkDir, PrivateDirError } from "@ncn/protocol/private-dir";
import { CONFIG_USAGE, loadConfig, type RegistryConfig, withAbsolutePaths } from "./config.ts";
import { ConfigError } from "./errors.ts";
import { createLogger } from "./logger.ts";
import { startRegistryNode } from "./node.ts";
import { guardAbortedSockets } from "./p2p/aborted-socket-guard.ts";

if (process.argv.includes("--help") || process.argv.includes("-h")) {
  process.stdout.write(`${CONFIG_USAGE}\n`);
  process.exit(0);
}

let config: RegistryConfig;
try {
  config = withAbsolutePaths(loadConfig(process.argv.slice(2), process.env), process.cwd());
  // From here on a relative path (one a model or a peer names) reaches only this empty
  // folder, never the operator's files next to the peer key.
  enterPrivateWorkDir(join(config.dataDir, "empty"));
} catch (e) {
  if (e instanceof PrivateDirError) {
    process.stderr.write(`registry: ${e.message}\n`);
    process.exit(2);
  }
  if (e instanceof ConfigError) {
    process.stderr.write(
      `registry: invalid configuration\n${e.problems.map((p) => `  - ${p}`).join("\n")}\n\n${CONFIG_USAGE}\n`,
    );
    process.exit(2);
  }
  throw e;
}

const log = createLogger("registry", { level: config.logLevel });

guardAbortedSockets(log);

// Validation hashes every receipt, tensor and Merkle node it checks.
await useFastKeccak();
const node = await startRegistryNode({ config, logger: log });
// One machine-readable line on stdout for supervisors (devnet, tests).
process.stdout.write(
  `${JSON.stringify({ ready: true, peerId: node.peerId, url: node.url, multiaddrs: node.multiaddrs(), validator: node.signer?.address ?? null })}\n`,
);

let stopping = false;
const shutdown = (signal: string) => {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(1), 10_000);
  node
    .stop()
    .then(() => {
      clearTimeout(force);
      process.exit(0);
    })
    .catch((e: unknown) => {
      process.stderr.write(`registry: stop after ${signal} failed: ${String(e)}\n`);
      process.exit(1);
    });
};
process.on("SIGINT", () => shutdown("SIGINT"));
process.on("SIGTERM", () => shutdown("SIGTERM"));

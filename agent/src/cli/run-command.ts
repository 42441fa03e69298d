import { enterPrivateWorkDir } from "@ncn/protocol/private-dir";
import { createProgressReporter } from "@ncn/runtime";
import { createLogger } from "@ncn/runtime/logger";
import { defineCommand } from "citty";
import { Agent, dataPaths } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { AgentError, describeError } from "../errors.ts";
import { sandboxSupport } from "../python-runtime.ts";
import { runCli } from "./errors.ts";
import { SETTING_ARGS, settingsFromArgs } from "./settings-args.ts";

/** How long running tasks get to finish at SIGTERM before they are handed back. */
const STOP_DRAIN_MS = 1_000;
/** The process exits this long after SIGTERM at the latest. */
const STOP_LIMIT_MS = 1_900;

export const runCommand = defineCommand({
  meta: { name: "run", description: "Connect to the gateway and serve tasks (the default command)" },
  args: SETTING_ARGS,
  run: ({ args }) =>
    runCli(async () => {
      const t0 = performance.now();
      const flags = settingsFromArgs(args);
      const config = loadConfig(flags, process.env, { require: ["gateway", "subnets"] });
      const log = createLogger("agent", { level: config.logLevel });
      // Paths in the configuration are absolute by now; from here on a relative path (one a
      // model names, say) reaches only this empty folder, never the operator's files.
      enterPrivateWorkDir(dataPaths(config.dataDir).empty);
      // The sandbox is probed while nothing else waits; no task kind runs Python yet, so the
      // agent offers only what its executor runs, and the probe only reports.
      const python =
        config.python === "auto" ? await sandboxSupport(dataPaths(config.dataDir).sandbox) : undefined;
      if (python && !python.available) log.warn("python sandbox unavailable", { missing: python.missing });
      const agent = await Agent.create(config, {
        log,
        onDownloadProgress: createProgressReporter({ log }),
      });
      log.info("agent starting", {
        address: agent.address,
        gateway: config.gateway,
        subnets: config.subnets,
        provider: agent.runtime.provider,
      });
      agent.start();
      void agent
        .waitReady(60_000)
        .then(() => log.info("agent ready", { ms: Math.round(performance.now() - t0) }))
        .catch((e: unknown) =>
          e instanceof AgentError
            ? log.error("gateway refused; retrying in the background", { error: describeError(e).message })
            : log.warn("gateway not reachable yet; retrying in the background"),
        );
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info("stopping", { signal });
          // Whatever holds the stop up (a model run that ignores its abort, a socket that does
          // not close) does not hold the process: it is gone within STOP_LIMIT_MS.
          setTimeout(() => {
            log.warn("stop took too long; exiting now", { ms: STOP_LIMIT_MS });
            process.exit(1);
          }, STOP_LIMIT_MS).unref();
          // A second signal ends it at once.
          process.once(signal, () => process.exit(130));
          resolve();
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      await agent.stop(STOP_DRAIN_MS);
      log.info("stopped", { pending: agent.outbox.size });
      // Handles nothing needs any more (onnxruntime's threads, timers of closed sockets) may
      // keep the process alive for many seconds: exit once this command returns.
      setTimeout(() => process.exit(), 0).unref();
      return 0;
    }),
});

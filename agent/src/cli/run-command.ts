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
          resolve();
        };
        process.once("SIGINT", () => stop("SIGINT"));
        process.once("SIGTERM", () => stop("SIGTERM"));
      });
      await agent.stop();
      log.info("stopped", { pending: agent.outbox.size });
      return 0;
    }),
});

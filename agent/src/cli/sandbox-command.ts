import { defineCommand } from "citty";
import { dataPaths } from "../agent.ts";
import { loadConfig } from "../config/config.ts";
import { runSandboxCommand } from "../python-runtime.ts";
import { SANDBOX_RUN_USAGE } from "../runtimes/python/index.ts";
import { runCli } from "./errors.ts";

const sandboxRun = defineCommand({
  meta: { name: "run", description: SANDBOX_RUN_USAGE },
  run: ({ rawArgs }) =>
    runCli(async () => {
      // Its flags belong to the sandbox runner; the data folder comes from NCN_DATA_DIR.
      const config = loadConfig({}, process.env);
      return runSandboxCommand(rawArgs, dataPaths(config.dataDir).sandbox);
    }),
});

export const sandboxCommand = defineCommand({
  meta: { name: "sandbox", description: "Run a Python file in the task sandbox" },
  subCommands: { run: sandboxRun },
});

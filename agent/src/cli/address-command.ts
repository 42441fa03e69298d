import { defineCommand } from "citty";
import { loadConfig } from "../config/config.ts";
import { loadIdentity } from "../identity/identity.ts";
import { runCli } from "./errors.ts";
import { SETTING_ARGS, settingsFromArgs } from "./settings-args.ts";

export const addressCommand = defineCommand({
  meta: { name: "address", description: "Print the agent's address (creating its key if needed)" },
  args: SETTING_ARGS,
  run: ({ args }) =>
    runCli(async () => {
      const config = loadConfig(settingsFromArgs(args), process.env);
      const id = loadIdentity(config.dataDir, config.privateKey, undefined, config.privateKeyFile);
      process.stdout.write(`${id.account.address}\n`);
      return 0;
    }),
});

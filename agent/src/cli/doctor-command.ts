import { defineCommand } from "citty";
import { loadConfig } from "../config/config.ts";
import { formatDoctor, runDoctor } from "../doctor/doctor.ts";
import { ConfigError } from "../errors.ts";
import { runCli } from "./errors.ts";
import { SETTING_ARGS, settingsFromArgs } from "./settings-args.ts";

export const doctorCommand = defineCommand({
  meta: { name: "doctor", description: "Check whether this machine can serve (exit 0) or why not (exit 1)" },
  args: {
    ...SETTING_ARGS,
    json: { type: "boolean", description: "print the report as JSON" },
    "skip-sandbox": { type: "boolean", description: "do not probe the Python sandbox" },
  },
  run: ({ args }) =>
    runCli(async () => {
      let config: Parameters<typeof runDoctor>[0];
      try {
        config = loadConfig(settingsFromArgs(args), process.env);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        config = { problems: e.problems };
      }
      const report = await runDoctor(config, { skipSandbox: args["skip-sandbox"] === true });
      process.stdout.write(args.json ? `${JSON.stringify(report, null, 2)}\n` : formatDoctor(report));
      return report.canServe ? 0 : 1;
    }),
});

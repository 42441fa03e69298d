import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { defineCommand, runMain } from "citty";
import { modelCommand, subnetCommand } from "./commands/catalog.ts";
import { chaosCommand } from "./commands/chaos.ts";
import { inferCommand, ocrCommand, receiptCommand } from "./commands/client.ts";
import { devnetCommand } from "./commands/devnet.ts";
import { fundCommand } from "./commands/fund.ts";
import { keyCommand } from "./commands/key.ts";
import { sessionCommand } from "./commands/session.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");

/** `ncn agent ...` is `ncn-agent ...`: every argument, `--help` included, goes to the agent's own command. */
function runAgent(args: readonly string[]): number {
  const r = spawnSync(process.execPath, [join(ROOT, "agent", "src", "main.ts"), ...args], {
    stdio: "inherit",
  });
  return r.status ?? 1;
}

const agentCommand = defineCommand({
  meta: {
    name: "agent",
    description:
      "The compute agent, as ncn-agent: run, doctor, earnings, withdraw, address, ... (`ncn agent run --help` lists the flags)",
  },
  run({ rawArgs }) {
    process.exitCode = runAgent(rawArgs);
  },
});

const main = defineCommand({
  meta: {
    name: "ncn",
    version: "0.1.0",
    description: "NCN Network: local devnet, subnets, models, requests and receipts",
  },
  subCommands: {
    devnet: devnetCommand,
    chaos: chaosCommand,
    subnet: subnetCommand,
    model: modelCommand,
    agent: agentCommand,
    ocr: ocrCommand,
    infer: inferCommand,
    receipt: receiptCommand,
    key: keyCommand,
    fund: fundCommand,
    session: sessionCommand,
  },
});

// Before the command parser, which would answer `ncn agent --help` itself.
if (process.argv[2] === "agent") process.exit(runAgent(process.argv.slice(3)));
await runMain(main);

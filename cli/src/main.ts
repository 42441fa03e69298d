import { spawnSync } from "node:child_process";
import { join, resolve } from "node:path";
import { defineCommand, runMain } from "citty";
import { modelCommand, subnetCommand } from "./commands/catalog.ts";
import { chaosCommand } from "./commands/chaos.ts";
import { inferCommand, ocrCommand, receiptCommand } from "./commands/client.ts";
import { devnetCommand } from "./commands/devnet.ts";
import { fundCommand } from "./commands/fund.ts";
import { keyCommand } from "./commands/key.ts";

const ROOT = resolve(import.meta.dirname, "..", "..");

const agentCommand = defineCommand({
  meta: {
    name: "agent",
    description: "Run the compute agent (same flags as ncn-agent; try `ncn agent --help`)",
  },
  run({ rawArgs }) {
    const r = spawnSync(process.execPath, [join(ROOT, "agent", "src", "main.ts"), ...rawArgs], {
      stdio: "inherit",
    });
    process.exitCode = r.status ?? 1;
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
  },
});

await runMain(main);

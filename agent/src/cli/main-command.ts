import { defineCommand } from "citty";
import { AGENT_VERSION } from "../version.ts";
import { addressCommand } from "./address-command.ts";
import { doctorCommand } from "./doctor-command.ts";
import { earningsCommand, withdrawCommand } from "./earnings-command.ts";
import { inferCommand } from "./infer-command.ts";
import { ocrCommand } from "./ocr-command.ts";
import { runCommand } from "./run-command.ts";
import { sandboxCommand } from "./sandbox-command.ts";

export const mainCommand = defineCommand({
  meta: {
    name: "ncn-agent",
    version: AGENT_VERSION,
    description: "NCN Network compute agent: serves ONNX and OCR tasks for a gateway and signs every result",
  },
  default: "run",
  subCommands: {
    run: runCommand,
    doctor: doctorCommand,
    infer: inferCommand,
    ocr: ocrCommand,
    sandbox: sandboxCommand,
    address: addressCommand,
    earnings: earningsCommand,
    withdraw: withdrawCommand,
  },
});

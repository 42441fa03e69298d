#!/usr/bin/env bun
import { useFastKeccak } from "@ncn/protocol";
import { runMain } from "citty";
import { mainCommand } from "./cli/main-command.ts";

// Receipts, tensors and Merkle nodes are hashed on every task.
await useFastKeccak();
await runMain(mainCommand);

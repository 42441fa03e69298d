// Writes runtime/assets/ncn-gpt/ncn-gpt.causal-lm (the manifest naming the exported files
// by hash) and prints the sha256 and size of every file for builtin-models.ts.
// Run after export.py: `bun runtime/models/ncn-gpt/write-manifest.ts`.
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sha256 } from "@ncn/protocol";
import * as v from "valibot";
import {
  CAUSAL_LM_FORMAT,
  type CausalLmManifest,
  causalLmManifestBytes,
  type ManifestPart,
} from "../../src/runtimes/causal-lm/manifest.ts";

const ASSETS = join(import.meta.dir, "../../assets/ncn-gpt");
const SOURCE = "npm:@ncn/runtime/assets/ncn-gpt";

function part(file: string): ManifestPart {
  const path = join(ASSETS, file);
  const sha256 = v.parse(Sha256, `0x${createHash("sha256").update(readFileSync(path)).digest("hex")}`);
  return { sha256, size: statSync(path).size, sources: [`${SOURCE}/${file}`] };
}

const manifest: CausalLmManifest = {
  format: CAUSAL_LM_FORMAT,
  decoder: part("model.onnx"),
  tokenizer: part("tokenizer.json"),
  tokenizerConfig: part("tokenizer_config.json"),
  contextLength: 256,
  endTokens: ["<|endoftext|>"],
};
writeFileSync(join(ASSETS, "ncn-gpt.causal-lm"), causalLmManifestBytes(manifest));
const files = { ...manifest, manifest: part("ncn-gpt.causal-lm") };
process.stdout.write(`${JSON.stringify(files, null, 2)}\n`);

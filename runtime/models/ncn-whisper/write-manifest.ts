// Writes runtime/assets/ncn-whisper/ncn-whisper.speech-to-text (the manifest naming the
// exported files by hash) and runtime/src/runtimes/speech-to-text/ncn-whisper-files.ts (the
// hashes and sizes the built-in descriptors use). Run after export.py:
// `bun runtime/models/ncn-whisper/write-manifest.ts`.
import { createHash } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { Sha256 } from "@ncn/protocol";
import * as v from "valibot";
import type { ManifestPart } from "../../src/runtimes/causal-lm/manifest.ts";
import {
  SPEECH_TO_TEXT_FORMAT,
  type SpeechToTextManifest,
  speechToTextManifestBytes,
} from "../../src/runtimes/speech-to-text/manifest.ts";

const ASSETS = join(import.meta.dir, "../../assets/ncn-whisper");
const SOURCE = "npm:@ncn/runtime/assets/ncn-whisper";
const MANIFEST = "ncn-whisper.speech-to-text";

function part(file: string): ManifestPart {
  const path = join(ASSETS, file);
  const sha256 = v.parse(Sha256, `0x${createHash("sha256").update(readFileSync(path)).digest("hex")}`);
  return { sha256, size: statSync(path).size, sources: [`${SOURCE}/${file}`] };
}

const config = v.parse(
  v.looseObject({ max_target_positions: v.number() }),
  JSON.parse(readFileSync(join(ASSETS, "config.json"), "utf8")),
);
const manifest: SpeechToTextManifest = {
  format: SPEECH_TO_TEXT_FORMAT,
  encoder: part("encoder_model.onnx"),
  decoder: part("decoder_model.onnx"),
  decoderWithPast: part("decoder_with_past_model.onnx"),
  tokenizer: part("tokenizer.json"),
  frontEnd: { sampleRate: 16_000, nFft: 400, hop: 160, nMels: 80 },
  prompt: ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"],
  endToken: "<|endoftext|>",
  maxTargetPositions: config.max_target_positions,
};
writeFileSync(join(ASSETS, MANIFEST), speechToTextManifestBytes(manifest));
const entry = (file: string) => {
  const p = part(file);
  return `  "${file}": {\n    sha256: "${p.sha256}",\n    size: ${p.size},\n  },`;
};
const files = [
  "encoder_model.onnx",
  "decoder_model.onnx",
  "decoder_with_past_model.onnx",
  "decoder_model_merged.onnx",
  "tokenizer.json",
  MANIFEST,
];
writeFileSync(
  join(import.meta.dir, "../../src/runtimes/speech-to-text/ncn-whisper-files.ts"),
  `// Written by runtime/models/ncn-whisper/write-manifest.ts from the files in
// runtime/assets/ncn-whisper/: their sha256 and size. Do not edit by hand.
export const NCN_WHISPER_FILES = {
${files.map(entry).join("\n")}
} as const;

/** The manifest's model settings, as write-manifest.ts wrote them. */
export const NCN_WHISPER_MAX_TARGET_POSITIONS = ${manifest.maxTargetPositions};
`,
);
process.stdout.write(`${JSON.stringify({ ...manifest, manifest: part(MANIFEST) }, null, 2)}\n`);

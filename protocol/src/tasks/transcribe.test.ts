import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { TaskFrame } from "../frames.ts";
import { hashTaskInput, hashTaskResult, hashTranscribeInput, hashTranscribeResult } from "../hashing.ts";
import { TaskInput, TaskResult } from "../inference.ts";
import { bytesToBase64 } from "../tensor.ts";
import { TRANSCRIBE_LIMITS, TranscribeResult, TranscribeTaskInput } from "./transcribe.ts";

const WAV = bytesToBase64(new Uint8Array(64).fill(7));
const input = (extra: Record<string, unknown> = {}) => ({
  kind: "transcribe",
  model: "ncn-whisper",
  audio: WAV,
  ...extra,
});
const result = (extra: Record<string, unknown> = {}) => ({
  kind: "transcribe" as const,
  text: "in the beginning",
  tokens: [1, 2, 3],
  audio_seconds: 1.5,
  ...extra,
});

describe("transcribe task input", () => {
  test("takes base64 audio with an optional language and prompt", () => {
    expect(v.is(TranscribeTaskInput, input())).toBe(true);
    expect(v.is(TaskInput, input({ language: "en", prompt: "Genesis" }))).toBe(true);
  });

  test("refuses audio that is not base64, too short, too large, and odd languages", () => {
    const huge = "A".repeat(4 * Math.ceil(TRANSCRIBE_LIMITS.wavBytes / 3) + 4);
    for (const audio of ["not base64!", "AAAA", huge, 42])
      expect(v.is(TranscribeTaskInput, input({ audio }))).toBe(false);
    for (const language of ["English", "e", "en_US;drop"])
      expect(v.is(TranscribeTaskInput, input({ language }))).toBe(false);
    expect(v.is(TranscribeTaskInput, input({ prompt: "x".repeat(TRANSCRIBE_LIMITS.promptChars + 1) }))).toBe(
      false,
    );
  });

  test("a transcribe task frame carries the audio", () => {
    const frame = {
      type: "task",
      taskId: "t-1",
      requestId: "r-1",
      subnet: "speech",
      model: {
        id: "ncn-whisper",
        sha256: `0x${"ab".repeat(32)}`,
        size: 900,
        runtime: "onnx",
        sources: ["npm:@ncn/runtime/assets/ncn-whisper/ncn-whisper.speech-to-text"],
        inputs: [],
        outputs: [],
        task: "transcribe",
      },
      price: "10",
      deadline: 1,
      kind: "transcribe",
      audio: WAV,
      language: "en",
    };
    expect(v.is(TaskFrame, frame)).toBe(true);
    expect(v.is(TaskFrame, { ...frame, audio: "%%%" })).toBe(false);
  });
});

describe("transcribe result and hashes", () => {
  test("a result holds text, token ids and the seconds heard, within bounds", () => {
    expect(v.is(TranscribeResult, result())).toBe(true);
    expect(v.is(TaskResult, result())).toBe(true);
    expect(v.is(TranscribeResult, result({ audio_seconds: TRANSCRIBE_LIMITS.seconds + 1 }))).toBe(false);
    expect(v.is(TranscribeResult, result({ tokens: [-1] }))).toBe(false);
  });

  test("the input hash binds the audio bytes and the hints; the output hash the tokens, text and length", () => {
    const parsed = v.parse(TaskInput, input());
    expect(hashTaskInput(parsed)).toBe(hashTranscribeInput({ audio: WAV }));
    const other = bytesToBase64(new Uint8Array(64).fill(8));
    expect(hashTranscribeInput({ audio: other })).not.toBe(hashTranscribeInput({ audio: WAV }));
    expect(hashTranscribeInput({ audio: WAV, language: "en" })).not.toBe(hashTranscribeInput({ audio: WAV }));
    const r = v.parse(TaskResult, result());
    expect(hashTaskResult(r)).toBe(hashTranscribeResult(result()));
    for (const change of [{ text: "in the beginnin" }, { tokens: [1, 2, 4] }, { audio_seconds: 1.6 }])
      expect(hashTranscribeResult(result(change))).not.toBe(hashTranscribeResult(result()));
  });
});
